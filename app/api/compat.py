"""What the compatibility APIs (DeepStack, CompreFace) share: image files under any field
name, the camera a frame is recorded under, boxes in whole pixels, number fields. Their errors
are the native API's (app/api/error_handlers.error_parts), each blueprint answering them in its
clients' JSON."""
from collections.abc import Callable

import numpy as np
from flask import Blueprint, request

from app.api.current import services
from app.api.openapi import documented
from app.api.uploads import Upload, check_image_count, text_field
from app.pipeline import Frame


def files_in_request() -> list[bytes]:
    """Every file part of a multipart request, whatever its field name, in order (clients send
    `image`, `image1`..., `file`; none sends a part Content-Type worth trusting: bytes decide)."""
    parts = [f for _, f in request.files.items(multi=True)]
    check_image_count(len(parts), services().settings.max_images_per_request)
    return [f.read() for f in parts]


def camera_id(default: str) -> str:
    """The camera a recognition is recorded under: `camera_id` from the query or form, else `default`."""
    fields = {**request.form.to_dict(), **request.args.to_dict()}
    return text_field(Upload([], fields), "camera_id") or default


def box_ints(box: np.ndarray, frame: Frame) -> dict[str, int]:
    """x_min, y_min, x_max, y_max in whole pixels inside the image (clients crop with them)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x_min, y_min = min(max(0, round(x1)), frame.width - 1), min(max(0, round(y1)), frame.height - 1)
    return {"x_min": x_min, "y_min": y_min, "x_max": max(min(frame.width, round(x2)), x_min + 1),
            "y_max": max(min(frame.height, round(y2)), y_min + 1)}


def poster(bp: Blueprint, api: str) -> Callable[[str, str], Callable]:
    """`post(path, summary)`: the decorator of a compatibility API's POST route, documented as
    "<api>: summary", answering with and without the trailing slash (no redirect: clients post both)."""
    def post(path: str, summary: str):
        def register(view):
            return bp.post(path + "/", strict_slashes=False)(documented(f"{api}: {summary}",
                                                                        content_type="application/json")(view))
        return register
    return post
