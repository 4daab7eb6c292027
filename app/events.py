"""Recognition events: one entry per recognized frame in a capped Redis stream ("events"),
holding the faces (JSON) and a small JPEG thumbnail of each face, for the web page and for
integrations that read the stream (XREAD). The faces' embeddings ride in the same entry, in a
binary field of their own (never in the JSON that is listed or published), so a correction
can name a face of a recent event for as long as the event is kept.

The thumbnails live inside the stream entries, so they are trimmed with them: the stream is
capped by count (EVENTS_MAXLEN, on every append) and by total size (EVENTS_MAX_MB: every
SIZE_CHECK_EVERY appends the stream's memory is measured and the oldest entries trimmed to
fit). When Redis is full, a frame is still recognized and answered, without its event."""
import json
import logging
import re
import time

import numpy as np
import redis

from app import metrics

log = logging.getLogger(__name__)
THUMBNAILS_PER_EVENT = 20            # faces beyond these have no thumbnail
MAX_THUMBNAIL_BYTES = 16 * 1024      # a 96 px face is ~3 KB; a larger one is left out
SIZE_CHECK_EVERY = 100
EVENT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")   # ASCII: \d and int() take any Unicode digit
THUMBNAIL_ID = re.compile(rf"({EVENT_ID.pattern})\.([0-9]{{1,3}})")   # an event id, the face's index
LEGACY_THUMBNAIL_ID = re.compile(r"[0-9a-f]{32}")   # events written before thumbnails moved into the stream


def is_event_id(text: str) -> bool:
    """Whether `text` is a Redis stream id (milliseconds-sequence, each under 2**64): anything
    else Redis refuses with an error, which would read as Redis failing."""
    return bool(EVENT_ID.fullmatch(text)) and all(int(part) < 2 ** 64 for part in text.split("-"))


class EventLog:
    def __init__(self, client: redis.Redis, prefix: str = "fr:", maxlen: int = 10_000, max_bytes: int = 256 << 20):
        self.redis, self.prefix = client, prefix
        self.key, self.maxlen, self.max_bytes = prefix + "events", maxlen, max_bytes
        self._appended = 0

    def record(self, camera_id: str | None, faces: list[dict], thumbnails: list[bytes],
               embeddings: np.ndarray | None = None) -> str | None:
        """Append one frame's faces ([{person_id, name, distance, box, visitor_id}]) with their
        thumbnails and embeddings ([N,D] float32) -> the event id, or None when Redis has no room
        for it (counted)."""
        fields: dict[str, str | bytes] = {"camera_id": camera_id or "", "time": f"{time.time():.3f}",
                                          "faces": json.dumps(faces)}
        if embeddings is not None and len(embeddings):
            fields["embeddings"] = np.asarray(embeddings, "<f4").tobytes()
        for i, jpeg in enumerate(thumbnails[:THUMBNAILS_PER_EVENT]):
            if jpeg and len(jpeg) <= MAX_THUMBNAIL_BYTES:
                fields[f"thumb:{i}"] = jpeg
        try:
            event_id = self.redis.xadd(self.key, fields, maxlen=self.maxlen, approximate=True).decode()
        except redis.OutOfMemoryError:
            log.warning("events: Redis is full (maxmemory); a recognition was answered without its event")
            metrics.EVENTS_DROPPED.inc()
            return None
        self._appended += 1
        if self._appended % SIZE_CHECK_EVERY == 0:
            self.trim_to_size()
        return event_id

    def trim_to_size(self, budget: int | None = None) -> int:
        """Trim the oldest events until the stream holds at most `budget` bytes (EVENTS_MAX_MB
        by default); the number of events kept."""
        budget = self.max_bytes if budget is None else budget
        with self.redis.pipeline(transaction=False) as pipe:
            used, length = pipe.memory_usage(self.key, samples=0).xlen(self.key).execute()
        if used and used > budget and length:
            keep = int(length * budget / used)
            self.redis.xtrim(self.key, maxlen=keep, approximate=False)
            return keep
        return length

    def recent(self, count: int = 50) -> list[dict]:
        """The newest events first: [{event_id, camera_id, time, faces}], each face with the id
        of its thumbnail (GET /events/thumbnails/{id}) when it has one."""
        return [self._event(eid.decode(), fields) for eid, fields in self.redis.xrevrange(self.key, count=count)]

    def face(self, event_id: str, index: int) -> tuple[dict, np.ndarray | None] | None:
        """(face entry, its embedding or None) of face `index` of event `event_id`; None when
        the event or the face is not there (trimmed, or never was)."""
        found = self.redis.xrange(self.key, event_id, event_id) if is_event_id(event_id) else []
        if not found:
            return None
        fields = found[0][1]
        faces = self._event(event_id, fields)["faces"]
        if not 0 <= index < len(faces):
            return None
        vectors = np.frombuffer(fields.get(b"embeddings", b""), "<f4")
        vector = vectors.reshape(len(faces), -1)[index].copy() if len(vectors) and len(vectors) % len(faces) == 0 \
            else None
        return faces[index], vector

    def thumbnail(self, thumb_id: str) -> bytes | None:
        match = THUMBNAIL_ID.fullmatch(thumb_id)
        if match and is_event_id(match[1]):
            found = self.redis.xrange(self.key, match[1], match[1])
            return found[0][1].get(f"thumb:{int(match[2])}".encode()) if found else None
        if LEGACY_THUMBNAIL_ID.fullmatch(thumb_id):
            return self.redis.get(f"{self.prefix}thumb:{thumb_id}")
        return None

    @staticmethod
    def _event(event_id: str, fields: dict) -> dict:
        faces = json.loads(fields[b"faces"])
        for i, face in enumerate(faces):
            if f"thumb:{i}".encode() in fields:
                face["thumbnail"] = f"{event_id}.{i}"
            face.setdefault("thumbnail", None)
        return {"event_id": event_id, "camera_id": fields[b"camera_id"].decode(), "time": float(fields[b"time"]),
                "faces": faces}
