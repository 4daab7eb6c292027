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
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def truncated(data, keep=0.6):
    return data[: int(len(data) * keep)]
