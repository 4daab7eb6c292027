"""Image bytes in, RGB arrays out: validation and decoding, and the face crops fed to the embedder.

Decoding is refused, with a message saying what to send instead, when the bytes are not
an image, when the header announces more than max_pixels (before anything is allocated),
or when a JPEG or PNG is cut short (OpenCV would otherwise fill the missing part with gray).
"""
import io
import warnings

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from app.errors import ImageError, ImageTooLarge, TooManyPixels
from config import FaceCrop

SEND_INSTEAD = "send a complete JPEG or PNG file"
THUMBNAIL_CROP = FaceCrop(0.10)
# The most pixels a file of each format can plausibly hold per byte. A JPEG spends at least a
# few bits on every 8x8 block (a uniform 7000x7000 frame is 768 KB baseline; progressive with
# runs of empty blocks can go ~3x smaller); deflate (PNG) stops at ~1000:1 of the raw bytes.
# A file far below that is cut short or lies in its header, and decoding it would still
# allocate every pixel it claims (a 689-byte "7000x7000" JPEG decodes to 147 MB of gray).
MAX_PIXELS_PER_BYTE = {"JPEG": 2_000, "PNG": 10_000}
OTHER_MAX_PIXELS_PER_BYTE = 50_000


def read_any_header_size() -> None:
    """Let Pillow read the size of any header. Pillow refuses to even open a header over its
    own limit (2 x 89 M pixels), before telling the size; here Pillow only reads headers, and
    the limit that applies is decode_image's max_pixels (MAX_IMAGE_PIXELS), whose error names
    the size. A process-wide Pillow setting: made by the app factory, never at import."""
    Image.MAX_IMAGE_PIXELS = None


def image_size(data: bytes, max_pixels: int) -> tuple[str | None, int, int]:
    """(format, width, height) from the header alone; ImageTooLarge above max_pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit is checked below
            with Image.open(io.BytesIO(data)) as im:
                fmt, width, height = im.format, im.width, im.height
    except Image.DecompressionBombError:  # Pillow's own limit, when read_any_header_size was not called
        raise ImageTooLarge(f"the image header announces far more than the limit of {max_pixels} pixels "
                            f"(MAX_IMAGE_PIXELS); send a smaller image") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageError(f"the data is not an image that can be read ({len(data)} bytes); {SEND_INSTEAD}") from None
    if width * height > max_pixels:
        raise ImageTooLarge(f"the image header says {width}x{height} pixels, more than the limit of "
                            f"{max_pixels} (MAX_IMAGE_PIXELS); send a smaller image")
    if width * height > len(data) * MAX_PIXELS_PER_BYTE.get(fmt or "", OTHER_MAX_PIXELS_PER_BYTE):
        raise ImageError(f"the {fmt} header says {width}x{height} pixels, far more than {len(data)} bytes can hold: "
                         f"the file is cut short or damaged; {SEND_INSTEAD}")
    return fmt, width, height


def request_pixels(images: list[bytes], max_pixels: int, max_total: int) -> int:
    """The pixels all `images` will decode to, from their headers alone: 413 over max_total
    (MAX_REQUEST_PIXELS), each image also checked as decode_image will (an error names the image)."""
    total = 0
    for i, data in enumerate(images):
        try:
            _, width, height = image_size(data, max_pixels) if data else ("", 0, 0)
        except ImageError as e:
            if len(images) > 1:
                e.message = f"image {i + 1} of {len(images)}: {e.message}"
            raise
        total += width * height
    if total > max_total:
        raise TooManyPixels(f"the {len(images)} images of this request hold {total} pixels together, more than "
                            f"the limit of {max_total} (MAX_REQUEST_PIXELS); send fewer or smaller images")
    return total


def _check_complete(fmt: str | None, data: bytes) -> None:
    if fmt == "JPEG" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        # No end-of-image marker after the last scan: the file was cut short.
        raise ImageError(f"truncated JPEG: the data ends inside the image ({len(data)} bytes); {SEND_INSTEAD}")
    if fmt == "PNG" and b"IEND" not in data[-64:]:
        raise ImageError(f"truncated PNG: the data ends before the IEND chunk ({len(data)} bytes); {SEND_INSTEAD}")


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """RGB uint8 [H,W,3] from encoded bytes (grayscale and alpha converted, EXIF rotation applied)."""
    if not data:
        raise ImageError(f"the image is empty (0 bytes); {SEND_INSTEAD}")
    fmt, _, _ = image_size(data, max_pixels)
    _check_complete(fmt, data)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f"the {fmt} image could not be decoded (corrupt data); {SEND_INSTEAD}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def crop_faces(rgb: np.ndarray, boxes: np.ndarray, crop: FaceCrop, size: int) -> np.ndarray:
    """uint8 [N,size,size,3]: each box widened as `crop` says, clipped to the frame, resized."""
    height, width = rgb.shape[:2]
    crops = np.zeros((len(boxes), size, size, 3), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.float64)):
        dx, dy = (x2 - x1) * crop.fraction + crop.pixels, (y2 - y1) * crop.fraction + crop.pixels
        left, top = int(np.clip(np.floor(x1 - dx), 0, width - 1)), int(np.clip(np.floor(y1 - dy), 0, height - 1))
        right, bottom = int(np.clip(np.ceil(x2 + dx), left + 1, width)), int(np.clip(np.ceil(y2 + dy), top + 1, height))
        face = rgb[top:bottom, left:right]
        shrink = face.shape[0] > size or face.shape[1] > size
        crops[i] = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return crops


def jpeg_thumbnails(rgb: np.ndarray, boxes: np.ndarray, size: int = 96, quality: int = 80) -> list[bytes]:
    """Small JPEGs of the faces at `boxes` (for events and the gallery page)."""
    thumbs = []
    for crop in crop_faces(rgb, boxes, THUMBNAIL_CROP, size):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        thumbs.append(data.tobytes() if ok else b"")
    return thumbs
