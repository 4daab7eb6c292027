"""Many different people, none of them enrolled anywhere: faces cut from group photos and face
grids that ship in npm packages (fetched by `npm pack`, sha256-checked, never committed:
scripts/pypi_assets.py), for the visitor-purity benchmark.

    faces = stranger_faces(pipeline)    # [Stranger]: one per distinct person, a crop around the face

Only faces the detector finds at `min_px` or more are used, each cropped with a margin so that
no other face of the photo comes along. One person may appear in several photos (the same cast
in the face-api samples, one man many times in Human's face grid): faces whose embeddings are
within `same_distance` of a face already kept (the larger first) are dropped, so that each
stranger kept is a distinct person as far as the embedder can tell.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from scripts.pypi_assets import extract

# (package in scripts/pypi_assets.PACKAGES, folder inside it, file names)
SOURCES = [
    ("human", "package/assets", ["screenshot-facematch.jpg", "screenshot-facedetect.jpg", "samples.jpg"]),
    ("face-api", "package/demo", [f"sample{i}.jpg" for i in range(1, 7)]),
]


@dataclass
class Stranger:
    label: str              # file and face number, e.g. "screenshot-facematch.jpg#12"
    rgb: np.ndarray         # a crop around the face (the face's box widened by 60% per side)
    box: tuple[float, float, float, float]   # the face in `rgb`
    side: float             # the face's shorter side in its photo, pixels
    embedding: np.ndarray


def photos() -> list[tuple[str, np.ndarray]]:
    out = []
    for package, folder, names in SOURCES:
        root = extract(package, folder)
        for name in names:
            bgr = cv2.imread(str(root / name))
            if bgr is not None:
                out.append((name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    return out


def _crop(rgb: np.ndarray, box, margin: float = 0.6) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    x1, y1, x2, y2 = [float(v) for v in box]
    w, h = x2 - x1, y2 - y1
    cx1, cy1 = int(max(0, x1 - margin * w)), int(max(0, y1 - margin * h))
    cx2, cy2 = int(min(rgb.shape[1], x2 + margin * w)), int(min(rgb.shape[0], y2 + margin * h))
    return np.ascontiguousarray(rgb[cy1:cy2, cx1:cx2]), (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1)


def stranger_faces(pipeline, min_px: float = 44.0, same_distance: float = 1.15) -> list[Stranger]:
    """One face per distinct person found in the SOURCES photos (see the module's docstring)."""
    found = []
    for name, rgb in photos():
        frame = pipeline.analyze_rgb(rgb)
        for i, face in enumerate(frame.faces):
            side = float(min(face.box[2] - face.box[0], face.box[3] - face.box[1]))
            if side < min_px or face.score < 0.95 or face.embedding is None:
                continue
            crop, box = _crop(rgb, face.box)
            # the face must stand alone in its crop: one detected face there, at the same place
            alone = pipeline.analyze_rgb(crop).faces
            if len(alone) != 1 or alone[0].embedding is None:
                continue
            found.append(Stranger(f"{name}#{i}", crop, tuple(float(v) for v in alone[0].box), side,
                                  alone[0].embedding))
    kept: list[Stranger] = []
    for stranger in sorted(found, key=lambda s: -s.side):
        if all(float(np.linalg.norm(stranger.embedding - k.embedding)) > same_distance for k in kept):
            kept.append(stranger)
    return kept
