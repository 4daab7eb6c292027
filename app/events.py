"""Recognition events: one entry per recognized frame in a capped Redis stream ("events"),
with small JPEG thumbnails of the faces under their own keys (expiring), for the web page
and for integrations that read the stream (XREAD). The faces' embeddings ride in the same
entry, in a binary field of their own (never in the JSON that is listed or published), so a
correction can name a face of a recent event for as long as the event is kept."""
import json
import time
import uuid

import numpy as np


class EventLog:
    def __init__(self, client, prefix="fr:", maxlen=10_000, thumbnail_ttl_s=7 * 24 * 3600):
        self.redis, self.prefix = client, prefix
        self.key, self.maxlen, self.ttl = prefix + "events", maxlen, thumbnail_ttl_s

    def thumbnail_key(self, thumb_id):
        return f"{self.prefix}thumb:{thumb_id}"

    def record(self, camera_id, faces, thumbnails, embeddings=None):
        """Append one frame's faces ([{person_id, name, distance, box, visitor_id}]) with their
        thumbnails and embeddings ([N,128] float32) -> event id."""
        thumb_ids = [uuid.uuid4().hex for _ in thumbnails]
        entry = [{**face, "thumbnail": tid} for face, tid in zip(faces, thumb_ids)]
        with self.redis.pipeline(transaction=False) as pipe:
            for tid, jpeg in zip(thumb_ids, thumbnails):
                pipe.set(self.thumbnail_key(tid), jpeg, ex=self.ttl)
            fields = {"camera_id": camera_id or "", "time": f"{time.time():.3f}", "faces": json.dumps(entry)}
            if embeddings is not None and len(embeddings):
                fields["embeddings"] = np.asarray(embeddings, "<f4").tobytes()
            pipe.xadd(self.key, fields, maxlen=self.maxlen, approximate=True)
            event_id = pipe.execute()[-1]
        return event_id.decode()

    def recent(self, count=50):
        """The newest events first: [{event_id, camera_id, time, faces}]."""
        return [{"event_id": eid.decode(), "camera_id": f[b"camera_id"].decode(), "time": float(f[b"time"]),
                 "faces": json.loads(f[b"faces"])}
                for eid, f in self.redis.xrevrange(self.key, count=count)]

    def face(self, event_id, index):
        """(face entry, its embedding or None) of face `index` of event `event_id`; None when
        the event or the face is not there (trimmed, or never was)."""
        found = self.redis.xrange(self.key, min=event_id, max=event_id)
        if not found:
            return None
        fields = found[0][1]
        faces = json.loads(fields[b"faces"])
        if not 0 <= index < len(faces):
            return None
        vectors = np.frombuffer(fields.get(b"embeddings", b""), "<f4")
        vector = vectors.reshape(len(faces), -1)[index].copy() if len(vectors) and len(vectors) % len(faces) == 0 \
            else None
        return faces[index], vector

    def thumbnail(self, thumb_id):
        return self.redis.get(self.thumbnail_key(thumb_id))
