"""Doorbell and CCTV frames made from photos: the photo scaled so that its face is `face_px`
wide, placed in a 1280x720 frame, with horizontal motion blur, sensor noise, an IR-grey look
and JPEG compression, as a person walking up to a camera is seen.

    frame = camera_frame(photo("madonna"), face_box, face_px=40, blur=5, quality=40)
"""
from dataclasses import dataclass

import cv2
import numpy as np

WIDTH, HEIGHT = 1280, 720


@dataclass(frozen=True)
class Look:
    face_px: float            # the face's width in the frame
    blur: int = 0             # horizontal motion blur, pixels
    quality: int = 90         # JPEG quality
    noise: float = 0.0        # Gaussian noise, standard deviation in grey levels
    grey: bool = False        # an IR camera at night: grey, flat contrast
    centre: tuple[float, float] = (640.0, 360.0)   # where the face's centre lands


def camera_frame(rgb: np.ndarray, face_box, look: Look, seed: int = 0) -> bytes:
    """A JPEG 1280x720 frame holding the photo `rgb` (whose face is at `face_box`) as `look` says."""
    x1, y1, x2, y2 = [float(v) for v in face_box]
    scale = look.face_px / max(x2 - x1, 1.0)
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    # where the photo's top-left lands so that its face's centre is at look.centre
    ox = int(round(look.centre[0] - (x1 + x2) / 2 * scale))
    oy = int(round(look.centre[1] - (y1 + y2) / 2 * scale))
    sx, sy = max(0, -ox), max(0, -oy)
    dx, dy = max(0, ox), max(0, oy)
    w, h = min(small.shape[1] - sx, WIDTH - dx), min(small.shape[0] - sy, HEIGHT - dy)
    if w > 0 and h > 0:
        frame[dy:dy + h, dx:dx + w] = small[sy:sy + h, sx:sx + w]
    if look.blur > 1:
        frame = cv2.filter2D(frame, -1, np.full((1, look.blur), 1.0 / look.blur))
    if look.grey:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        frame = np.repeat((grey * 0.6 + 60).clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if look.noise > 0:
        noise = np.random.default_rng(seed).normal(0, look.noise, frame.shape)
        frame = (frame.astype(np.float32) + noise).clip(0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, look.quality])
    assert ok
    return data.tobytes()
