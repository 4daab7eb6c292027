"""The camera node: frames from one camera to a facerec server, run beside the camera or on
any machine that reaches both (`python -m app.cli camera SOURCE --camera-id door`).

SOURCE is an RTSP or HTTP stream (MJPEG, HLS, ... whatever OpenCV's FFmpeg reads), a USB
device index ("0"), a video file, or an HTTP snapshot URL (polled; told apart from a stream by
its Content-Type, or --snapshot). A grabber thread keeps only the newest frame; the sender
takes one at most --fps times a second, optionally only when something moved (--motion),
and posts it as JPEG to /recognize: one request in flight at a time, so a slow server makes
the node skip stale frames instead of queueing them. Camera and server are reconnected with
backoff (1 s doubling to 30 s). A file is played at its own frame rate and the node exits at
its end; Ctrl-C (or SIGTERM) stops it cleanly with a summary.

Client-side only: imports requests, OpenCV and NumPy, nothing of the server.
"""
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import requests

MAX_BACKOFF_S = 30.0


@dataclass
class NodeConfig:
    source: str
    camera_id: str
    url: str = "http://127.0.0.1:5000"
    api_key: str | None = None
    fps: float = 2.0
    motion: bool = False
    motion_threshold: float = 0.01   # the fraction of pixels that must change
    snapshot: bool | None = None     # None: decided from the URL's Content-Type
    jpeg_quality: int = 85
    max_width: int = 1280            # frames wider than this are scaled down before sending (0: never)
    timeout_s: float = 10.0
    verbose: bool = False


@dataclass
class Counts:
    read: int = 0          # frames from the camera
    sent: int = 0
    still: int = 0         # not sent: nothing moved
    faces: int = 0         # recognitions with at least one face
    errors: int = 0        # requests the server failed or never answered
    names: dict = field(default_factory=dict)


class Backoff:
    """The wait before the next try after a failure: 1 s doubling to MAX_BACKOFF_S, back to 0 on a
    success. The snapshot poll, the stream capture and the posting to the server each keep one
    across their own loops (a camera that does not open, a server that fails); a retry library
    would wrap one call, not say how long a loop that goes on should wait."""

    def __init__(self):
        self.delay = 0.0

    def next(self) -> float:
        self.delay = min(MAX_BACKOFF_S, self.delay * 2 or 1.0)
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0


class Grabber(threading.Thread):
    """Reads the camera continuously and keeps the newest frame (and its number)."""

    def __init__(self, config: NodeConfig, stop: threading.Event, say: Callable[[str], None]):
        super().__init__(name="grabber", daemon=True)
        self.config, self.stop, self.say = config, stop, say
        self.lock = threading.Lock()
        self.frame: np.ndarray | None = None
        self.number, self.captured = 0, 0.0
        self.ended = threading.Event()   # a file's end, or a file that cannot be read
        self.failure: str | None = None
        source = config.source
        self.device = int(source) if source.isdigit() else None
        self.is_file = self.device is None and "://" not in source
        self.snapshot = config.snapshot if config.snapshot is not None else self._serves_images(source)

    def take(self, after: int):
        """(frame, number, capture time in Unix epoch seconds) if a frame newer than number
        `after` came, else None."""
        with self.lock:
            return (self.frame, self.number, self.captured) if self.number > after else None

    def _keep(self, frame: np.ndarray) -> None:
        with self.lock:
            self.frame, self.number, self.captured = frame, self.number + 1, time.time()

    def _serves_images(self, source: str) -> bool:
        if not source.startswith(("http://", "https://")):
            return False
        try:
            with requests.get(source, stream=True, timeout=self.config.timeout_s) as response:
                return response.headers.get("Content-Type", "").startswith("image/")
        except requests.RequestException:
            return False   # a stream then; OpenCV's reconnection loop takes over

    def run(self) -> None:
        try:
            self._poll() if self.snapshot else self._capture()
        finally:
            self.ended.set()

    def _poll(self) -> None:
        backoff, session = Backoff(), requests.Session()
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                response = session.get(self.config.source, timeout=self.config.timeout_s)
                response.raise_for_status()
                frame = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
                if frame is None:
                    raise ValueError("the snapshot is not an image")
                self._keep(frame)
                backoff.reset()
                self.stop.wait(max(0.0, 1.0 / self.config.fps - (time.monotonic() - started)))
            except (requests.RequestException, ValueError) as e:
                delay = backoff.next()
                self.say(f"camera snapshot failed ({e}); retrying in {delay:.0f} s")
                self.stop.wait(delay)

    def _open(self):
        if self.device is not None:
            capture = cv2.VideoCapture(self.device)
        else:
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")   # RTSP over TCP
            capture = cv2.VideoCapture(self.config.source, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000])   # a dead camera
        return capture if capture.isOpened() else None

    def _capture(self) -> None:
        backoff = Backoff()
        while not self.stop.is_set():
            capture = self._open()
            if capture is None:
                if self.is_file:
                    self.failure = f"cannot read the video file {self.config.source}"
                    return
                delay = backoff.next()
                self.say(f"camera {self.config.source} cannot be opened; retrying in {delay:.0f} s")
                self.stop.wait(delay)
                continue
            backoff.reset()
            rate = capture.get(cv2.CAP_PROP_FPS) if self.is_file else 0.0
            rate = rate if 0 < rate <= 240 else 25.0
            started, count = time.monotonic(), 0
            while not self.stop.is_set():
                ok, frame = capture.read()
                if not ok:
                    break
                self._keep(frame)
                count += 1
                if self.is_file:   # play at the file's own speed, as a camera would deliver it
                    self.stop.wait(max(0.0, started + count / rate - time.monotonic()))
            capture.release()
            if self.is_file:
                return
            if not self.stop.is_set():
                self.say(f"camera {self.config.source} stopped sending; reconnecting")


class Motion:
    """Something moved since the last frame looked at: the share of pixels (on a small blurred
    gray copy) that changed by more than 25 levels."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.previous: np.ndarray | None = None

    def moved(self, frame: np.ndarray) -> bool:
        height, width = frame.shape[:2]
        small = cv2.resize(frame, (160, max(1, height * 160 // width)), interpolation=cv2.INTER_AREA)
        gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        previous, self.previous = self.previous, gray
        if previous is None or previous.shape != gray.shape:
            return True
        return float((cv2.absdiff(previous, gray) > 25).mean()) >= self.threshold


def describe(body: dict) -> str:
    names = [f"{f['match']['name']} ({f['match']['confidence']:.2f})" if f.get("match") else "unknown"
             for f in body.get("faces", [])]
    return ", ".join(names) or "no face"


class CameraNode:
    def __init__(self, config: NodeConfig, say: Callable[[str], None] = print):
        self.config, self.say, self.counts = config, say, Counts()
        self.stop = threading.Event()
        self.session = requests.Session()
        if config.api_key:
            self.session.headers["X-API-Key"] = config.api_key
        self.server_backoff = Backoff()

    def _encode(self, frame: np.ndarray) -> bytes:
        width = frame.shape[1]
        if self.config.max_width and width > self.config.max_width:
            scale = self.config.max_width / width
            frame = cv2.resize(frame, (self.config.max_width, round(frame.shape[0] * scale)),
                               interpolation=cv2.INTER_AREA)
        return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])[1].tobytes()

    def _post(self, frame: np.ndarray, captured: float | None = None) -> None:
        """One frame to /recognize with its capture time (the server's tracks follow the camera's
        clock, not the arrival order); a server that fails or cannot be reached is waited for (backoff)."""
        params = {"camera_id": self.config.camera_id, "timestamp": f"{captured or time.time():.3f}"}
        try:
            response = self.session.post(f"{self.config.url.rstrip('/')}/recognize", data=self._encode(frame),
                                         params=params,
                                         headers={"Content-Type": "image/jpeg"}, timeout=self.config.timeout_s)
        except requests.RequestException as e:
            return self._server_trouble(f"cannot reach {self.config.url} ({type(e).__name__})")
        if response.status_code in (401, 403):
            raise SystemExit(f"{self.config.url} refused the API key ({response.status_code}); check --api-key")
        if response.status_code >= 500:
            return self._server_trouble(f"the server answered {response.status_code}: {response.text[:200]}")
        self.server_backoff.reset()
        self.counts.sent += 1
        if response.status_code != 200:
            self.say(f"{self.config.camera_id}: frame refused ({response.status_code}): {response.text[:200]}")
            return
        body = response.json()
        for face in body["faces"]:
            if face.get("match"):
                name = face["match"]["name"]
                self.counts.names[name] = self.counts.names.get(name, 0) + 1
        if body["faces"] or self.config.verbose:
            self.counts.faces += bool(body["faces"])
            self.say(f"{time.strftime('%H:%M:%S')} {self.config.camera_id}: {describe(body)} "
                     f"({body['timing_ms']['total']:.0f} ms)")

    def _server_trouble(self, why: str) -> None:
        self.counts.errors += 1
        delay = self.server_backoff.next()
        self.say(f"{self.config.camera_id}: {why}; next frame in {delay:.0f} s")
        self.stop.wait(delay)

    def run(self) -> Counts:
        """Until the file ends, or Ctrl-C / SIGTERM; the counts."""
        source = self.config.source
        if not source.isdigit() and "://" not in source and not Path(source).is_file():
            raise SystemExit(f"no such file: {source}")
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler) \
            if threading.current_thread() is threading.main_thread() else None
        grabber = Grabber(self.config, self.stop, self.say)
        motion = Motion(self.config.motion_threshold) if self.config.motion else None
        grabber.start()
        self.say(f"{self.config.camera_id}: reading {self.config.source} "
                 f"({'snapshots' if grabber.snapshot else 'stream'}), sending to {self.config.url}")
        last, next_send = 0, time.monotonic()
        try:
            while True:
                taken = grabber.take(last)
                if taken is None:
                    if grabber.ended.is_set():
                        break
                    grabber.ended.wait(0.01)
                    continue
                frame, last, captured = taken
                if motion is None or motion.moved(frame):
                    self._post(frame, captured)
                else:
                    self.counts.still += 1
                # at most --fps; after a slow answer the newest frame goes at once, no debt is kept
                next_send = max(next_send + 1.0 / self.config.fps, time.monotonic())
                self.stop.wait(max(0.0, next_send - time.monotonic()))
        except KeyboardInterrupt:
            self.say(f"{self.config.camera_id}: stopping")
        finally:
            self.stop.set()
            grabber.join(timeout=10)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        self.counts.read = grabber.number
        if grabber.failure:
            raise SystemExit(grabber.failure)
        return self.counts
