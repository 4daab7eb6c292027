"""Open tracks in Redis, so that frames of one camera may reach any worker or replica.

    {prefix}visits:camera:<camera id>   hash {v: version, state: JSON list of open tracks}; kept
                                        VISIT_KEEP_S after the camera's last frame
    {prefix}visits:open                 sorted set: each camera with open tracks, scored by when the
                                        server received its last frame (the sweep reads it)
    {prefix}visits:track:<track id>     the track's JSON, for GET /tracks/{id}; kept VISIT_KEEP_S

A frame reads the camera's state and version, computes the new state (camera.after_frame, pure),
and writes it with a Lua script only if the version is unchanged (compare-and-set), else reads
again: two workers given frames of one camera at once never lose each other's tracks.

A track ends once, whoever notices: the camera's next frame (its capture time more than
TRACK_GAP_S after the track's last one) or the sweep (no frame of it received for TRACK_GAP_S,
`sweep`), in any worker. Ending is removing the track from its camera's state through that same
compare-and-set, so of two workers ending one track only the one whose write succeeds has it in
its list of ended tracks (and announces it); the other reads the state again and finds it gone.
"""
import json
import time

import redis

from app.visits.camera import FrameOutcome, MeanMatcher, TrackRules, after_frame, silent
from app.visits.identity import Look, VisitRules
from app.visits.tracks import Sighting, TrackState

# KEYS: the camera's hash, the open cameras' sorted set, then each changed track's key; ARGV:
# expected version, new state ("": the state is unchanged), the camera's TTL (ms), the tracks'
# TTL (ms), the camera id, its score in the sorted set ("": no open track, removed), then each
# changed track's JSON.
SAVE_IF_UNCHANGED = """
local version = redis.call('HGET', KEYS[1], 'v') or '0'
if version ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'v', tostring(tonumber(version) + 1), 'state', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
if ARGV[6] == '' then redis.call('ZREM', KEYS[2], ARGV[5]) else redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5]) end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 4], 'PX', ARGV[4])
end
return 1
"""
SWEEP_BATCH = 100    # cameras looked at per sweep round (the stalest first)
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

    def stranger_key(self, track_id: str) -> str:
        """The sighting id of the track's unknown visit (claim_stranger)."""
        return f"{self.prefix}visits:stranger:{track_id}"

    @property
    def open_key(self) -> str:
        return f"{self.prefix}visits:open"

    def observe(self, camera: str, now: float, sightings: list[Sighting], looks: list[Look],
                received: float | None = None, mean_match: MeanMatcher | None = None) -> FrameOutcome:
        """The frame's faces applied to the camera's tracks, atomically; raises redis.RedisError.
        `now`: the frame's capture time; `received`: when the server got it (default: now, wall
        clock); `mean_match`: the gallery's answer for a visit's mean face (camera.after_frame)."""
        received = time.time() if received is None else received
        for _ in range(ATTEMPTS):
            version, stored = self._read(camera)
            outcome = after_frame(stored, sightings, looks, now, self.rules, self.visit, mean_match)
            for track in outcome.faces:
                track.seen_at = received
            if self._save(camera, version, outcome.open, outcome.faces):
                return outcome
            time.sleep(0.001)
        raise VisitConflict(f"camera {camera!r}: tracks changed by other workers {ATTEMPTS} times in a row")

    def sweep(self, now: float | None = None) -> list[tuple[str, TrackState]]:
        """(camera, track) of every track whose camera sent no frame of it for TRACK_GAP_S before
        `now` (wall clock, default now), ended by this call: removed from its camera's open tracks,
        so that no other sweep, worker or frame ends it again. Raises redis.RedisError."""
        now = time.time() if now is None else now
        cameras = self.redis.zrangebyscore(self.open_key, "-inf", now - self.rules.gap_s, start=0, num=SWEEP_BATCH)
        ended: list[tuple[str, TrackState]] = []
        for member in cameras:
            camera = member.decode() if isinstance(member, bytes) else str(member)
            ended += [(camera, track) for track in self._end_silent(camera, now)]
        return ended

    def _end_silent(self, camera: str, now: float) -> list[TrackState]:
        for _ in range(ATTEMPTS):
            version, stored = self._read(camera)
            keep, ended = silent(stored, now, self.rules.gap_s)
            if not ended and keep:
                return []   # a frame came meanwhile: its write moved the camera's score on
            if self._save(camera, version, keep, [], unchanged=not ended):
                return ended
            time.sleep(0.001)
        raise VisitConflict(f"camera {camera!r}: tracks changed by other workers {ATTEMPTS} times in a row")

    def _read(self, camera: str) -> tuple[str, list[TrackState]]:
        version, state = self.redis.hmget(self.camera_key(camera), "v", "state")
        stored = [TrackState.from_json(t) for t in json.loads(state)] if state else []
        return (version or b"0").decode(), stored

    def _save(self, camera: str, version: str, open_: list[TrackState], changed: list[TrackState],
              unchanged: bool = False) -> bool:
        """The camera's open tracks (and the changed tracks' own keys) written if its version is
        still `version`; `unchanged`: only its place in the open cameras' set is set right."""
        ttl_ms = self.keep_s * 1000  # ended tracks are found (and announced) by a later frame or the sweep
        state = "" if unchanged else json.dumps([t.to_json() for t in open_])
        score = repr(max(t.seen_at for t in open_)) if open_ else ""
        tracks = {t.id: t for t in changed}
        return bool(self.save(keys=[self.camera_key(camera), self.open_key, *(self.track_key(i) for i in tracks)],
                              args=[version, state, ttl_ms, ttl_ms, camera, score,
                                    *(json.dumps(t.to_json()) for t in tracks.values())]))

    def claim_stranger(self, track_id: str, sighting_id: str) -> tuple[bool, str]:
        """(True, `sighting_id`) for the first caller to feed the track (an unknown visit) to the
        visitor clustering: its sighting gets that id; else (False, the id the first one chose),
        the claim kept another VISIT_KEEP_S (a visit may outlast it)."""
        key = self.stranger_key(track_id)
        if self.redis.set(key, sighting_id, nx=True, ex=self.keep_s):
            return True, sighting_id
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.expire(key, self.keep_s)
            chosen, _ = pipe.execute()
        return False, (chosen or b"").decode()

    def stranger_sighting(self, track_id: str) -> str | None:
        """The sighting id of the track's unknown visit (claim_stranger), None when it has none."""
        chosen = self.redis.get(self.stranger_key(track_id))
        return chosen.decode() if chosen else None

    def track(self, track_id: str) -> TrackState | None:
        data = self.redis.get(self.track_key(track_id))
        return TrackState.from_json(json.loads(data)) if data else None
