"""Which track each face of a frame continues (pure: no Redis, no models).

A face continues a track of the same camera seen within TRACK_GAP_S when its box overlaps the
track's last box or moved plausibly since (its centre within a few face widths per second of
gap), and its embedding is within TRACK_MAX_DISTANCE of the track's last one; the nearest such
pair wins first, each track takes at most one face of a frame. A face given a visit key joins
that key's track whatever its position. The rest open new tracks.
"""
import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MOTION_SIDES_PER_S = 3.0    # how far (in face widths) a face may move in one second between frames
MIN_MOTION_SIDES = 1.5      # and at any gap (a person walking up grows and shifts by about this)


@dataclass
class Sighting:
    """One face of a frame, as tracking sees it."""
    box: tuple[float, float, float, float]
    embedding: np.ndarray
    quality: float
    visit_key: str | None = None
    stranger_weight: float = 0.0    # > 0: an unknown face worth feeding the visitors (its quality)


@dataclass
class TrackState:
    id: str
    box: list[float]
    embedding: np.ndarray
    first_seen: float
    last_seen: float
    frames: int = 0
    visit_key: str | None = None
    evidence: dict[str, float] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    person_id: str | None = None
    name: str | None = None
    decided: bool = False
    confidence: float = 0.0
    best_quality: float = 0.0
    published: str | None = None     # the identity last announced on MQTT ("" = unknown), None = none yet
    seen_at: float = 0.0             # when the server received its last frame (wall clock; the sweep's clock)
    # the visit as one unknown visitor's sighting: the mean of its faces worth feeding the
    # visitors (Sighting.stranger_weight), weighted by quality; None until there is one
    stranger: np.ndarray | None = None
    stranger_weight: float = 0.0
    stranger_faces: int = 0
    # the visit's mean face (identity.with_mean): the mean of its usable faces (quality at least
    # MIN_MATCH_QUALITY), weighted by quality, kept where VISIT_MEAN_FACES > 0; None until there is one
    face_mean: np.ndarray | None = None
    face_weight: float = 0.0
    usable_faces: int = 0
    named_by_mean: bool = False      # its identity is the person its mean face matched

    def add_stranger_face(self, embedding: np.ndarray, weight: float) -> None:
        if weight > 0:
            self.stranger, self.stranger_weight = weighted_mean(self.stranger, self.stranger_weight, embedding, weight)
            self.stranger_faces += 1

    def add_usable_face(self, embedding: np.ndarray, quality: float) -> None:
        if quality > 0:
            self.face_mean, self.face_weight = weighted_mean(self.face_mean, self.face_weight, embedding, quality)
            self.usable_faces += 1

    def stranger_vector(self) -> np.ndarray | None:
        """The visit's unknown face for the visitor clustering: the weighted mean, unit length."""
        return unit(self.stranger)

    def mean_vector(self) -> np.ndarray | None:
        """The visit's mean face, unit length: what identity.with_mean matches."""
        return unit(self.face_mean)

    def to_json(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items() if k not in VECTORS},
                **{k: None if getattr(self, k) is None else _packed(getattr(self, k)) for k in VECTORS}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrackState":
        """Fields this version does not know (written by a newer one) are left out, so that
        workers of two versions can share tracks during an upgrade."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, **{k: None if known.get(k) is None else _unpacked(known[k])
                                  for k in VECTORS if k in known}})

    def public(self) -> dict[str, Any]:
        """The `track` object of the API and of MQTT visit messages."""
        return {"id": self.id, "person_id": self.person_id, "name": self.name, "confidence": self.confidence,
                "decided": self.decided, "frames": self.frames, "first_seen": round(self.first_seen, 3),
                "last_seen": round(self.last_seen, 3)}


VECTORS = ("embedding", "stranger", "face_mean")   # TrackState's vectors, packed in its JSON


def weighted_mean(mean: np.ndarray | None, total: float, vector: np.ndarray,
                   weight: float) -> tuple[np.ndarray, float]:
    """(the mean with `vector` added at `weight`, the new total weight)."""
    before = mean if mean is not None else np.zeros(len(vector), np.float32)
    return (before * total + np.asarray(vector, np.float32) * weight) / (total + weight), total + weight


def unit(vector: np.ndarray | None) -> np.ndarray | None:
    if vector is None:
        return None
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else None


def _packed(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, np.float16).tobytes()).decode()


def _unpacked(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.float16).astype(np.float32)


def new_track(sighting: Sighting, now: float) -> TrackState:
    return TrackState(uuid.uuid4().hex, [float(v) for v in sighting.box], sighting.embedding, now, now,
                      visit_key=sighting.visit_key)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def plausible_motion(track_box: Sequence[float], box: Sequence[float], gap_s: float) -> bool:
    """The box's centre within (MIN_MOTION_SIDES + MOTION_SIDES_PER_S x gap) face widths of the track's."""
    side = max(track_box[2] - track_box[0], box[2] - box[0], 1.0)
    dx = (box[0] + box[2] - track_box[0] - track_box[2]) / 2
    dy = (box[1] + box[3] - track_box[1] - track_box[3]) / 2
    return bool(float(np.hypot(dx, dy)) <= side * (MIN_MOTION_SIDES + MOTION_SIDES_PER_S * abs(gap_s)))


def live(tracks: list[TrackState], now: float, gap_s: float) -> tuple[list[TrackState], list[TrackState]]:
    """(the tracks still open at `now`, those ended: no frame for more than gap_s)."""
    open_: list[TrackState] = []
    ended: list[TrackState] = []
    for t in tracks:
        (open_ if now - t.last_seen <= gap_s else ended).append(t)
    return open_, ended


def assignment(sightings: list[Sighting], tracks: list[TrackState], now: float, gap_s: float,
               max_distance: float) -> list[int | None]:
    """For each sighting, the index in `tracks` of the track it continues, or None (a new one)."""
    chosen: list[int | None] = [None] * len(sightings)
    taken: set[int] = set()
    for i, s in enumerate(sightings):  # a visit key names its track outright
        if s.visit_key is not None:
            match = next((j for j, t in enumerate(tracks) if t.visit_key == s.visit_key and j not in taken), None)
            if match is not None:
                chosen[i] = match
                taken.add(match)
    pairs = []
    for i, s in enumerate(sightings):
        if s.visit_key is not None:
            continue
        for j, t in enumerate(tracks):
            gap = now - t.last_seen
            if j in taken or t.visit_key is not None or abs(gap) > gap_s:
                continue
            overlap = iou(t.box, s.box)
            if overlap <= 0 and not plausible_motion(t.box, s.box, gap):
                continue
            distance = float(np.linalg.norm(np.asarray(s.embedding, np.float32) - t.embedding))
            if distance <= max_distance:
                pairs.append((distance - overlap, i, j))
    for _, i, j in sorted(pairs):
        if chosen[i] is None and j not in taken:
            chosen[i] = j
            taken.add(j)
    return chosen
