"""How deeply a JSON body nests, measured on its raw bytes before any parser sees them, in
constant memory: a parser builds every level it enters (Python's json recursed 12,000 levels
deep before giving up, growing a worker by 325 MB; ijson's builder holds every open level),
so a body nested deeper than MAX_JSON_DEPTH is refused before parsing costs anything.

Hand-written (no library measures depth without parsing): brackets are counted outside
strings, a string being what lies between quotes not escaped by an odd run of backslashes.
Bytes are scanned in chunks with numpy, carrying the state (inside a string or not, the
backslashes ending the last chunk, the depth) from chunk to chunk, so memory is one chunk's
whatever the body's size. Malformed JSON may be measured wrongly; the parser refuses it after.
The bytes counted are UTF-8's, which RFC 8259 requires of JSON between systems: a UTF-16 or
UTF-32 body (which Python's json would read) is refused, as its bytes are not its characters."""
import json
from collections.abc import Iterable

import numpy as np

from app.errors import BadRequest

MAX_JSON_DEPTH = 32          # the deepest body any route takes is a gallery file's: 6 levels
CHUNK = 1 << 18                # bytes scanned at once: a few MB of numpy arrays
QUOTE, BACKSLASH = ord('"'), ord("\\")
KIND = np.zeros(256, np.uint8)       # 1: a quote, 2: opens a level, 3: closes one
KIND[QUOTE], KIND[list(b"[{")], KIND[list(b"]}")] = 1, 2, 3


class DepthGauge:
    """Feed the body chunk by chunk (feed); 400 as soon as it nests deeper than `limit`."""

    def __init__(self, limit: int = MAX_JSON_DEPTH):
        self.limit, self.depth = limit, 0
        self.in_string = False
        self.backslashes = 0      # the run of backslashes ending the bytes fed so far
        self.started = False

    def feed(self, data: bytes) -> None:
        if not self.started and data:
            self.started = True
            encoding = json.detect_encoding(data[:4])
            if encoding not in ("utf-8", "utf-8-sig"):
                raise BadRequest(f"a JSON body is UTF-8 (RFC 8259); this one reads as {encoding}")
        for start in range(0, len(data), CHUNK):
            self._feed(np.frombuffer(data, np.uint8, min(CHUNK, len(data) - start), start))

    def _feed(self, b: np.ndarray) -> None:
        n = len(b)
        if not n:
            return
        slash = b == BACKSLASH
        escaped = np.zeros(n, bool)         # preceded by an odd run of backslashes
        if self.backslashes or slash.any():
            index = np.arange(n)
            last_other = np.maximum.accumulate(np.where(slash, -1, index))
            run = np.empty(n, np.int64)     # backslashes right before each byte (runs cross chunks)
            run[0] = self.backslashes
            run[1:] = np.where(last_other[:-1] >= 0, index[:-1] - last_other[:-1], index[:-1] + 1 + self.backslashes)
            escaped = run % 2 == 1
            last = int(last_other[-1])
            self.backslashes = n - 1 - last if last >= 0 else self.backslashes + n
        # only quotes and brackets matter: the rest (most of a body: base64, digits) is skipped
        where = np.flatnonzero((KIND[b] != 0) & ~escaped)
        kinds = KIND[b[where]]
        quotes = kinds == 1
        inside = (np.cumsum(quotes) % 2 == 1) != self.in_string   # a quote counts as inside: not a bracket
        steps = np.where(inside | quotes, 0, np.where(kinds == 2, 1, -1))
        depths = self.depth + np.cumsum(steps)
        if depths.max(initial=self.depth) > self.limit:
            raise BadRequest(f"the JSON body nests deeper than {self.limit} levels; no request needs more")
        if len(where):
            self.depth, self.in_string = int(depths[-1]), bool(inside[-1])


def check_depth(chunks: Iterable[bytes], limit: int = MAX_JSON_DEPTH) -> None:
    """400 when the JSON in `chunks` nests deeper than `limit` (constant memory)."""
    gauge = DepthGauge(limit)
    for chunk in chunks:
        gauge.feed(chunk)
