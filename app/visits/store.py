"""Open tracks in Redis, so that frames of one camera may reach any worker or replica.

    {prefix}visits:camera:<camera id>   hash {v: version, state: JSON list of open tracks}; expires
                                        TRACK_GAP_S after the camera's last frame
    {prefix}visits:track:<track id>     the track's JSON, for GET /tracks/{id}; kept VISIT_KEEP_S

A frame reads the camera's state and version, computes the new state (camera.after_frame, pure),
and writes it with a Lua script only if the version is unchanged (compare-and-set), else reads
again: two workers given frames of one camera at once never lose each other's tracks.
"""
import json
import time

import redis

from app.visits.camera import FrameOutcome, TrackRules, after_frame
from app.visits.identity import Look, VisitRules
from app.visits.tracks import Sighting, TrackState

# KEYS: the camera's hash, then each changed track's key; ARGV: expected version, new state, the
# camera's TTL (ms), the tracks' TTL (ms), then each changed track's JSON.
SAVE_IF_UNCHANGED = """
local version = redis.call('HGET', KEYS[1], 'v') or '0'
if version ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', tostring(tonumber(version) + 1), 'state', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 3], 'PX', ARGV[4])
end
return 1
"""
ATTEMPTS = 20


class VisitConflict(RuntimeError):
    """Other workers kept changing the camera's tracks for ATTEMPTS tries (never seen in practice)."""


class VisitStore:
    def __init__(self, client: redis.Redis, prefix: str, rules: TrackRules, visit: VisitRules, keep_s: int = 3600):
        self.redis, self.prefix, self.rules, self.visit, self.keep_s = client, prefix, rules, visit, keep_s
        self.save = client.register_script(SAVE_IF_UNCHANGED)

    def camera_key(self, camera: str) -> str:
        return f"{self.prefix}visits:camera:{camera}"

    def track_key(self, track_id: str) -> str:
        return f"{self.prefix}visits:track:{track_id}"

    def observe(self, camera: str, now: float, sightings: list[Sighting], looks: list[Look]) -> FrameOutcome:
        """The frame's faces applied to the camera's tracks, atomically; raises redis.RedisError."""
        key = self.camera_key(camera)
        for _ in range(ATTEMPTS):
            version, state = self.redis.hmget(key, "v", "state")
            stored = [TrackState.from_json(t) for t in json.loads(state)] if state else []
            outcome = after_frame(stored, sightings, looks, now, self.rules, self.visit)
            changed = {t.id: t for t in outcome.faces}
            ttl_ms = self.keep_s * 1000  # ended tracks are found (and announced) on a later frame
            args = [(version or b"0").decode(), json.dumps([t.to_json() for t in outcome.open]), ttl_ms,
                    self.keep_s * 1000]
            if self.save(keys=[key, *(self.track_key(i) for i in changed)],
                         args=args + [json.dumps(t.to_json()) for t in changed.values()]):
                return outcome
            time.sleep(0.001)
        raise VisitConflict(f"camera {camera!r}: tracks changed by other workers {ATTEMPTS} times in a row")

    def claim_visitor(self, track_id: str) -> tuple[bool, str | None]:
        """(True, None) when this caller is the first to feed the track's face to the visitor
        clustering (it then calls set_visitor), else (False, the visitor id if already known)."""
        key = f"{self.prefix}visits:visitor:{track_id}"
        if self.redis.set(key, "", nx=True, ex=self.keep_s):
            return True, None
        return False, (self.redis.get(key) or b"").decode() or None

    def set_visitor(self, track_id: str, visitor_id: str) -> None:
        self.redis.set(f"{self.prefix}visits:visitor:{track_id}", visitor_id, ex=self.keep_s)

    def track(self, track_id: str) -> TrackState | None:
        data = self.redis.get(self.track_key(track_id))
        return TrackState.from_json(json.loads(data)) if data else None

    def ended(self, camera: str, now: float) -> list[TrackState]:
        """Tracks of `camera` with no frame for TRACK_GAP_S, removed from its open tracks (a camera
        whose frames stopped: the housekeeping asks)."""
        return self.observe(camera, now, [], []).ended
