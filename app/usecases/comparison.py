"""One face compared with every face of another image, or every face of an image compared
with one enrolled face (CompreFace's verification): the distance and confidence of each pair,
by the same rule as everywhere (app/gallery/search/matching.py).

    result = compare_images(services, source_jpeg, target_jpeg)
    for pair in result.matches: pair.face.box, pair.confidence
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.errors import NoFace, SeveralFaces
from app.gallery.search.matching import distances
from app.pipeline import Face, Frame, Stopwatch
from app.services import Services
from app.usecases.subjects import StoredFace

Select = Callable[[Frame], list[Face]]


@dataclass
class Pair:
    face: Face            # a face of the target image
    distance: float
    confidence: float


@dataclass
class Comparison:
    source: Face | None   # None when compared with an enrolled face
    source_frame: Frame | None
    frame: Frame          # the target image
    matches: list[Pair]   # one per face of the target, largest face first
    timing_ms: dict[str, float]


def _faces(s: Services, image: bytes, select: Select | None, stopwatch: Stopwatch, what: str) -> Frame:
    frame = s.pipeline.analyze(image, embed=False, stopwatch=stopwatch)
    frame.faces = sorted(select(frame) if select else frame.faces, key=lambda f: -f.area)
    if not frame.faces:
        raise NoFace(f"no face found in the {what} ({frame.width}x{frame.height})")
    return frame


def _pairs(s: Services, probe: np.ndarray, frame: Frame, stopwatch: Stopwatch) -> list[Pair]:
    s.pipeline.embed_faces(frame, frame.faces, stopwatch)
    pairs = []
    for face in frame.faces:
        distance = float(distances(face.vector, probe[None]).min())
        pairs.append(Pair(face, distance, s.rule.confidence(distance)))
    return pairs


def compare_images(s: Services, source: bytes, target: bytes, select: Select | None = None) -> Comparison:
    """The one face of `source` against every face of `target`; NoFace when either has none,
    SeveralFaces when the source has more than one. select: the faces to keep of each image."""
    s.pipeline.check_request([source, target])   # both headers before either is decoded, as everywhere
    stopwatch = Stopwatch()
    source_frame = _faces(s, source, select, stopwatch, "source image")
    if len(source_frame.faces) > 1:
        raise SeveralFaces(f"{len(source_frame.faces)} faces in the source image; send an image with one face")
    s.pipeline.embed_faces(source_frame, source_frame.faces, stopwatch)
    face = source_frame.faces[0]
    frame = _faces(s, target, select, stopwatch, "target image")
    pairs = _pairs(s, face.vector, frame, stopwatch)
    return Comparison(face, source_frame, frame, pairs, stopwatch.finish())


def compare_with_face(s: Services, image: bytes, enrolled: StoredFace, select: Select | None = None) -> Comparison:
    """Every face of `image` against one enrolled face."""
    s.pipeline.check_request([image])
    stopwatch = Stopwatch()
    frame = _faces(s, image, select, stopwatch, "image")
    pairs = _pairs(s, enrolled.vector, frame, stopwatch)
    return Comparison(None, None, frame, pairs, stopwatch.finish())
