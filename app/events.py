"""Recognition events: one entry per recognized frame in a capped Redis stream ("events"),
with small JPEG thumbnails of the faces under their own keys (expiring), for the web page
and for integrations that read the stream (XREAD)."""
import json
import time
import uuid


class EventLog:
    def __init__(self, client, prefix="fr:", maxlen=10_000, thumbnail_ttl_s=7 * 24 * 3600):
        self.redis, self.prefix = client, prefix
        self.key, self.maxlen, self.ttl = prefix + "events", maxlen, thumbnail_ttl_s

    def thumbnail_key(self, thumb_id):
        return f"{self.prefix}thumb:{thumb_id}"

    def record(self, camera_id, faces, thumbnails):
        """Append one frame's faces ([{person_id, name, distance, box}]) with their thumbnails -> event id."""
        thumb_ids = [uuid.uuid4().hex for _ in thumbnails]
        entry = [{**face, "thumbnail": tid} for face, tid in zip(faces, thumb_ids)]
        with self.redis.pipeline(transaction=False) as pipe:
            for tid, jpeg in zip(thumb_ids, thumbnails):
                pipe.set(self.thumbnail_key(tid), jpeg, ex=self.ttl)
            pipe.xadd(self.key, {"camera_id": camera_id or "", "time": f"{time.time():.3f}",
                                 "faces": json.dumps(entry)}, maxlen=self.maxlen, approximate=True)
            event_id = pipe.execute()[-1]
        return event_id.decode()

    def recent(self, count=50):
        """The newest events first: [{event_id, camera_id, time, faces}]."""
        return [{"event_id": eid.decode(), "camera_id": f[b"camera_id"].decode(), "time": float(f[b"time"]),
                 "faces": json.loads(f[b"faces"])}
                for eid, f in self.redis.xrevrange(self.key, count=count)]

    def thumbnail(self, thumb_id):
        return self.redis.get(self.thumbnail_key(thumb_id))
