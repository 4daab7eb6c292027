"""One camera's open tracks after one frame (pure: no Redis, no models): the frame's faces
joined to the tracks they continue or to new ones, each track's identity updated from its new
look and its mean face, the tracks that ended (no frame for TRACK_GAP_S), and which visits
have news to announce; and the tracks of a camera that fell silent (`silent`: the sweep's
question).
"""
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from app.visits.identity import Identity, Look, MeanMatch, VisitRules, after_look
from app.visits.tracks import Sighting, TrackState, assignment, live, new_track


@dataclass(frozen=True)
class TrackRules:
    gap_s: float = 10.0           # TRACK_GAP_S
    max_distance: float = 1.3     # TRACK_MAX_DISTANCE: embedding distance a track may be continued at
    max_open: int = 50            # open tracks kept per camera (the oldest are ended beyond)


@dataclass
class FrameOutcome:
    faces: list[TrackState]           # the track of each face, in the frame's order
    open: list[TrackState]            # every open track of the camera after the frame
    ended: list[TrackState]           # tracks that ended before this frame
    news: list[tuple[str, TrackState]]   # ("decided" | "changed", track): visit identities to announce


def announcement(track: TrackState) -> str | None:
    """"decided" the first time a visit's identity is decided, "changed" when a decided identity
    changes, else None; marks it announced."""
    if not track.decided:
        return None
    key = track.person_id if track.person_id is not None else ""
    if track.published == key:
        return None
    event = "decided" if track.published is None else "changed"
    track.published = key
    return event


MeanMatcher = Callable[[np.ndarray], "MeanMatch | None"]   # a visit's mean face -> the person it matches


def after_frame(tracks: list[TrackState], sightings: list[Sighting], looks: list[Look], now: float,
                rules: TrackRules, visit: VisitRules, mean_match: MeanMatcher | None = None) -> FrameOutcome:
    """`tracks`: the camera's stored tracks (not changed); `looks[i]`: sightings[i] as evidence;
    `mean_match`: the gallery's answer for a visit's mean face, asked only where it could name
    the visit (identity.after_look; None: the mean face is kept but never matched)."""
    current, ended = live([replace(t, evidence=dict(t.evidence), names=dict(t.names)) for t in tracks], now,
                          rules.gap_s)
    chosen = assignment(sightings, current, now, rules.gap_s, rules.max_distance)
    faces, news = [], []
    for sighting, look, index in zip(sightings, looks, chosen):
        track = current[index] if index is not None else new_track(sighting, now)
        if index is None:
            current.append(track)
        track.box, track.embedding = [float(v) for v in sighting.box], sighting.embedding
        track.first_seen, track.last_seen = min(track.first_seen, now), max(track.last_seen, now)
        track.frames += 1
        track.best_quality = max(track.best_quality, look.quality)
        track.add_stranger_face(sighting.embedding, sighting.stranger_weight)
        if look.usable and visit.mean_faces > 0:   # kept only where the rule may use it
            track.add_usable_face(sighting.embedding, look.quality)
        before = Identity(track.person_id, track.name, track.decided, track.confidence)
        ask = None if mean_match is None else partial(_mean_answer, mean_match, track)
        after, track.named_by_mean = after_look(track.evidence, track.names, before, track.named_by_mean, look,
                                                track.usable_faces, ask, visit)
        track.person_id, track.name, track.decided, track.confidence = (after.person_id, after.name, after.decided,
                                                                         after.confidence)
        event = announcement(track)
        if event:
            news.append((event, track))
        faces.append(track)
    current.sort(key=lambda t: t.last_seen, reverse=True)
    return FrameOutcome(faces, current[:rules.max_open], ended + current[rules.max_open:], news)


def _mean_answer(mean_match: MeanMatcher, track: TrackState) -> "MeanMatch | None":
    """The gallery's answer for the track's mean face (computed only when asked)."""
    mean = track.mean_vector()
    return None if mean is None else mean_match(mean)


def silent(tracks: list[TrackState], now: float, gap_s: float) -> tuple[list[TrackState], list[TrackState]]:
    """(the tracks still open, those ended): a track ends when the server received no frame of it
    for more than gap_s before `now` (both on the server's clock: TrackState.seen_at), whatever
    the frames' capture times say."""
    keep: list[TrackState] = []
    ended: list[TrackState] = []
    for t in tracks:
        (keep if now - t.seen_at <= gap_s else ended).append(t)
    return keep, ended
