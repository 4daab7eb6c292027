"""Visits: the faces of a frame joined to their camera's tracks (app/visits), each track's
identity accumulated over its frames, and visit news sent to MQTT. Track state lives in Redis;
when it cannot be used the frame is answered alone (track None), never with an error.

    tracks = track_faces(s, "door", now, faces, visit_key=None)   # one TrackState | None per face
"""
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import redis

from app.errors import TrackNotFound
from app.gallery.outage import UNREACHABLE
from app.services import Services
from app.usecases import visitors
from app.visits import Look, Sighting, TrackState
from app.visits.identity import MeanMatch
from app.visits.store import VisitConflict

if TYPE_CHECKING:
    from app.usecases.recognition import RecognizedFace

log = logging.getLogger(__name__)
TRACK_ID = re.compile(r"[0-9a-f]{32}")   # uuid4().hex, as tracks.new_track makes them


def look_of(s: Services, face: "RecognizedFace") -> Look:
    """A recognition.RecognizedFace as evidence for its visit."""
    quality = face.face.quality.quality if face.face.quality else 1.0
    if face.reason == "low_quality":
        return Look(quality, usable=False)
    refused = {c.person_id for c in face.candidates if s.rule.same_person(c.distance)} - {
        c.person_id for c in face.accepted}
    if face.match is not None:
        return Look(quality, face.match.person_id, face.match.name, face.match.distance, refused)
    nearest = face.candidates[0].distance if face.candidates else None
    return Look(quality, distance=nearest if nearest is None or nearest > s.rule.threshold else s.rule.threshold,
                refused=refused)


def mean_match(s: Services, vector: np.ndarray) -> MeanMatch | None:
    """The person a visit's mean face is, by the rule a frame's face is matched by: the nearest
    within MATCH_THRESHOLD that no correction refuses (this worker's copies of the gallery and of
    the negatives: no Redis call); None when there is none."""
    for m in s.replica.match(vector, s.settings.top_k):
        if not s.rule.same_person(m.distance):
            return None
        if not s.negatives.refuses(m.person_id, vector, m.distance):
            return MeanMatch(m.person_id, m.name, m.distance, s.rule.confidence(m.distance))
    return None


def track_faces(s: Services, camera_id: str | None, now: float, faces: "list[RecognizedFace]",
                visit_key: str | None = None) -> list[TrackState | None]:
    """The track of each of `faces` (recognition.RecognizedFace, embedded), after this frame; the
    visits' news published. [None, ...] when Redis could not be used (the frame stands alone)."""
    if not faces:
        return []
    largest = max(range(len(faces)), key=lambda i: faces[i].face.area)
    sightings = [Sighting(_box(f.face.box), np.asarray(f.face.embedding, np.float32),
                          f.face.quality.quality if f.face.quality else 1.0,
                          visit_key if i == largest else None, visitors.stranger_weight(s, f))
                 for i, f in enumerate(faces)]
    camera = camera_id or "default"
    try:
        outcome = s.visits.observe(camera, now, sightings, [look_of(s, f) for f in faces],
                                   mean_match=lambda vector: mean_match(s, vector))
    except (redis.RedisError, VisitConflict) as e:
        if isinstance(e, UNREACHABLE):
            s.outage.failed(e)
        log.warning("tracks of camera %r not updated, frame answered alone: %s", camera, e)
        return [None] * len(faces)
    end_visits(s, [(camera, track) for track in outcome.ended])   # before this frame's news
    for event, track in outcome.news:
        s.publisher.publish_visit(camera, event, track.public())
    tracks: list[TrackState | None] = [*outcome.faces]
    return tracks


def end_visits(s: Services, ended: list[tuple[str, TrackState]]) -> None:
    """What follows the end of each (camera, track): "ended" published when its identity had
    been announced, and an unknown visit's sighting given its whole mean (visitors.visit_ended;
    a Redis failure there is logged, not raised: the visit has ended either way)."""
    for camera, track in ended:
        if track.published is not None:
            s.publisher.publish_visit(camera, "ended", track.public())
        try:
            visitors.visit_ended(s, track)
        except redis.RedisError as e:
            log.warning("the ended visit %s's sighting not refined: %s", track.id, e)


def _box(box: "Sequence[float] | np.ndarray") -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1, y1, x2, y2


def get_track(s: Services, track_id: str) -> TrackState:
    track = s.visits.track(track_id) if TRACK_ID.fullmatch(track_id) else None
    if track is None:
        raise TrackNotFound(f"track {track_id!r} is unknown or ended more than VISIT_KEEP_S ago")
    return track
