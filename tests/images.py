"""Hostile and odd image bytes, made here (no third-party files)."""
import struct
import zlib

import cv2


def png(rgb_or_gray):
    ok, data = cv2.imencode(".png", rgb_or_gray)
    assert ok
    return data.tobytes()


def png_header_only(width, height):
    """A PNG whose header claims width x height (a decompression bomb's header) with no pixels."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def truncated(data, keep=0.6):
    return data[: int(len(data) * keep)]


def jpeg_claiming(width, height):
    """A real, complete 16x16 JPEG (a few hundred bytes) whose frame header is rewritten to claim
    width x height: decoders fill the missing pixels with gray, allocating all of them."""
    import numpy as np
    data = bytearray(cv2.imencode(".jpg", np.full((16, 16, 3), 100, np.uint8))[1].tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)
