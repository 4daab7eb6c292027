"""What the gallery keeps of every enrolled face besides its embedding, so that the face can be
embedded again by another model (app/usecases/reembed.py): the face with a wide margin, as a
JPEG, and the detector's box and 5 landmarks in the crop's pixels.

The margin (half the box's larger side on every side) holds FaceNet's box+N% crops up to
N = 50 and SFace's and dlib's 5-point alignments (whose 112x112 and 150x150 outputs span ~1.5
box widths) of faces turned up to ~30 degrees. The crop stops at the frame's edge, as a crop of the frame would,
so the box may reach outside it: crops and alignments then see the same pixels, and the same
black border, as on the frame (stored losslessly, a crop gives the frame's embeddings exactly).
Large faces are scaled down so that the box is at most MAX_BOX_SIDE pixels (FaceNet's input
size; SFace's alignment needs less), so a crop is at most 2 * MAX_BOX_SIDE square. JPEG at
quality 90 without chroma subsampling: ~13 KB (at most ~35 KB) per face on the 5-celebrity
photos; re-embedded from these, the gallery's EER is unchanged (docs/models.md, Galleries that survive
a model change).

Stored as b"FC1" + box (4) and landmarks (10) as float32 little-endian + the JPEG.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from app.errors import ImageError
from app.pipeline.imaging import decode_image

MARGIN = 0.5
MAX_BOX_SIDE = 160
JPEG_QUALITY = 90
MAGIC = b"FC1"
# The most pixels a kept crop (or a thumbnail standing in for one) can have: 2 x MAX_BOX_SIDE
# square and rounding. A crop or thumbnail claiming more is not one of ours (an imported file's
# "10000x10000" bomb): refused from its header, never decoded.
MAX_CROP_PIXELS = (2 * MAX_BOX_SIDE + 4) ** 2
_POINTS = 14 * 4


@dataclass
class EnrolledCrop:
    jpeg: bytes
    box: np.ndarray        # [4] x1, y1, x2, y2 in the crop's pixels
    landmarks: np.ndarray  # [5,2] in the crop's pixels

    def to_bytes(self) -> bytes:
        points = np.concatenate([np.asarray(self.box, "<f4").ravel(), np.asarray(self.landmarks, "<f4").ravel()])
        return MAGIC + points.astype("<f4").tobytes() + self.jpeg

    @classmethod
    def from_bytes(cls, data: bytes) -> "EnrolledCrop":
        if len(data) <= len(MAGIC) + _POINTS or not data.startswith(MAGIC):
            raise ValueError("not an enrolled face crop")
        points = np.frombuffer(data[len(MAGIC):len(MAGIC) + _POINTS], "<f4").astype(np.float32)
        if not np.all(np.isfinite(points)):
            raise ValueError("an enrolled face crop with points that are not numbers")
        return cls(data[len(MAGIC) + _POINTS:], points[:4], points[4:].reshape(5, 2))

    def rgb(self) -> np.ndarray:
        """The crop decoded, after the checks every upload passes (its header first: at most
        MAX_CROP_PIXELS); ValueError when it cannot be."""
        try:
            return decode_image(self.jpeg, MAX_CROP_PIXELS)
        except ImageError as e:
            raise ValueError(f"the face crop cannot be used: {e.message}") from None


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [
        cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])  # small faces: keep the colour
    if not ok:
        raise ValueError("the face crop could not be encoded")
    return data.tobytes()


def enrolled_crop(rgb: np.ndarray, box: np.ndarray, landmarks: np.ndarray) -> EnrolledCrop:
    """The crop kept for a face detected at `box` with `landmarks` in the frame `rgb`."""
    height, width = rgb.shape[:2]
    x1, y1, x2, y2 = np.asarray(box, np.float64)
    side = max(x2 - x1, y2 - y1, 1.0)
    left, top = int(np.clip(np.floor(x1 - MARGIN * side), 0, width - 1)), int(np.clip(np.floor(y1 - MARGIN * side),
                                                                                      0, height - 1))
    right = int(np.clip(np.ceil(x2 + MARGIN * side), left + 1, width))
    bottom = int(np.clip(np.ceil(y2 + MARGIN * side), top + 1, height))
    face = rgb[top:bottom, left:right]
    scale = min(1.0, MAX_BOX_SIDE / side)
    if scale < 1.0:
        size = (max(1, round(face.shape[1] * scale)), max(1, round(face.shape[0] * scale)))
        scale_xy = np.array([size[0] / face.shape[1], size[1] / face.shape[0]])
        face = cv2.resize(face, size, interpolation=cv2.INTER_AREA)
    else:
        scale_xy = np.ones(2)
    origin = np.array([left, top], np.float64)
    new_box = ((np.asarray(box, np.float64).reshape(2, 2) - origin) * scale_xy).ravel()
    new_marks = (np.asarray(landmarks, np.float64).reshape(5, 2) - origin) * scale_xy
    return EnrolledCrop(_jpeg(np.ascontiguousarray(face)), new_box.astype(np.float32), new_marks.astype(np.float32))

