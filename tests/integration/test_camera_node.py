"""The camera node (`python -m app.cli camera`) against a live server with Madonna enrolled:
a video file made here from the celebrity photos, an MJPEG stream and a snapshot URL served
by the test, an RTSP stream from GStreamer's RTSP server (skipped when Debian's bindings are
missing), a slow server, a server that comes up late, and Ctrl-C / SIGTERM."""
import http.server
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
import requests
from werkzeug.serving import make_server

from samples.photos import compose, photo, photo_bytes
from scripts.processes import free_port, port_answers, wait_until
from scripts.pypi_assets import ROOT

GRAY = np.full((480, 640, 3), 90, np.uint8)
MADONNA = compose([photo("madonna", 0)])   # RGB, 640x480


def bgr(rgb):
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def jpeg(rgb):
    return cv2.imencode(".jpg", bgr(rgb))[1].tobytes()


@pytest.fixture
def server(live_server):
    """A live server with Madonna enrolled."""
    live = live_server()
    images = [("image", (f"{i}.jpg", photo_bytes("madonna", i, "train"), "image/jpeg")) for i in range(2)]
    assert requests.post(live.url + "/enroll", files=images, data={"name": "Madonna"}, timeout=30).status_code == 201
    return live


@pytest.fixture
def video(tmp_path):
    """3 s of an empty gray scene, then 2 s of Madonna walking across it, at 10 frames/s (MPEG-4 in .mp4).
    The still part is long enough that a slow first answer (a loaded machine) leaves still frames to look at."""
    path = tmp_path / "door.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (640, 480))
    assert writer.isOpened()
    for i in range(50):
        writer.write(bgr(GRAY if i < 30 else np.roll(MADONNA, 6 * (i - 40), axis=1)))
    writer.release()
    return path


class Node:
    """The camera node as a process; its output lines as they come."""

    def __init__(self, url, *args, api_key=None):
        cmd = [sys.executable, "-m", "app.cli", "--url", url] + (["--api-key", api_key] if api_key else [])
        self.process = subprocess.Popen(cmd + ["camera", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines, self.done = [], threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            with self.done:
                self.lines.append(line.rstrip())
                self.done.notify_all()

    def wait_for(self, pattern, timeout=60.0) -> str:
        with self.done:
            found = lambda: next((line for line in self.lines if re.search(pattern, line)), None)  # noqa: E731
            assert self.done.wait_for(found, timeout), f"no line matching {pattern!r} in:\n" + "\n".join(self.lines)
            return found()

    def stop(self, sig=signal.SIGINT) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)

    def summary(self) -> dict:
        line = self.wait_for(r"frames read")
        return {key: int(value) for value, key in re.findall(r"(\d+) (frames read|sent|without motion|skipped)", line)}


class Camera(http.server.ThreadingHTTPServer):
    """An IP camera: /stream.mjpg (multipart/x-mixed-replace at 10 frames/s; every connection is cut
    after `cut_after` frames, when given) and /snapshot.jpg."""
    daemon_threads = True

    def __init__(self, frame, cut_after=0):
        self.frame, self.cut_after, self.connections = jpeg(frame), cut_after, 0
        super().__init__(("127.0.0.1", 0), CameraHandler)
        self.url = f"http://127.0.0.1:{self.server_port}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class CameraHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        camera = self.server
        if self.path == "/snapshot.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(camera.frame)))
            self.end_headers()
            self.wfile.write(camera.frame)
            return
        camera.connections += 1
        limit = camera.cut_after or 10 ** 9
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            for _ in range(limit):
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                 % (len(camera.frame), camera.frame))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass


def test_a_video_file(server, video):
    node = Node(server.url, video, "--camera-id", "door", "--fps", "5", "--motion")
    assert node.process.wait(timeout=90) == 0   # exits at the end of the file
    assert re.search(r"door: Madonna \(0\.\d\d\)", node.wait_for("Madonna"))
    counts = node.summary()
    # the still seconds: their first frame only; the walk: about 5 frames/s; the last frame sent at the end at most
    assert counts["frames read"] == 50 and counts["without motion"] >= 2 and 5 <= counts["sent"] <= 13
    events = requests.get(server.url + "/events?count=50", timeout=10).json()["events"]
    assert any(e["camera_id"] == "door" and [f["name"] for f in e["faces"]] == ["Madonna"] for e in events)


def test_an_mjpeg_stream_that_drops_is_reconnected_and_ctrl_c_stops_cleanly(server):
    camera = Camera(MADONNA, cut_after=15)
    node = Node(server.url, camera.url + "/stream.mjpg", "--camera-id", "hall", "--fps", "4")
    node.wait_for("(stream)")
    node.wait_for(r"hall: Madonna")
    node.wait_for("stopped sending; reconnecting")
    seen = len([line for line in node.lines if "Madonna" in line])
    wait_until(lambda: len([line for line in node.lines if "Madonna" in line]) > seen + 2, 60,
               "recognitions after the reconnection")
    assert camera.connections >= 3   # the node's look at the Content-Type, then OpenCV's first and second
    assert node.stop(signal.SIGINT) == 0
    assert node.summary()["sent"] >= 3
    camera.shutdown()


def test_a_slow_server_gets_one_frame_at_a_time(server):
    app = server.server.app
    inner, busy, seen = app.wsgi_app, [0], {"max": 0, "requests": 0}
    lock = threading.Lock()

    def slow(environ, start_response):   # 0.6 s more per recognition, counting those in flight
        if environ["PATH_INFO"] != "/recognize":
            return inner(environ, start_response)
        with lock:
            busy[0] += 1
            seen["max"], seen["requests"] = max(seen["max"], busy[0]), seen["requests"] + 1
            seen["query"] = environ.get("QUERY_STRING", "")
        try:
            time.sleep(0.6)
            return inner(environ, start_response)
        finally:
            with lock:
                busy[0] -= 1
    app.wsgi_app = slow
    camera = Camera(MADONNA)
    node = Node(server.url, camera.url + "/stream.mjpg", "--camera-id", "slow", "--fps", "10")
    node.wait_for(r"slow: Madonna")
    started = time.monotonic()
    time.sleep(3)
    assert node.stop(signal.SIGTERM) == 0
    elapsed = time.monotonic() - started
    counts = node.summary()
    assert seen["max"] == 1   # never two in flight
    sent = dict(pair.split("=", 1) for pair in seen["query"].split("&"))
    assert sent["camera_id"] == "slow" and abs(float(sent["timestamp"]) - time.time()) < 30   # the capture time
    assert counts["skipped"] > counts["sent"]   # stale frames were dropped, not queued
    assert seen["requests"] <= (elapsed + 5) / 0.6 + 2   # paced by the server, not by --fps 10
    camera.shutdown()


def test_a_server_that_comes_up_late_and_a_snapshot_camera(live_server, tmp_path):
    camera = Camera(MADONNA)
    port = free_port()
    node = Node(f"http://127.0.0.1:{port}", camera.url + "/snapshot.jpg", "--camera-id", "gate", "--fps", "2")
    node.wait_for("(snapshots)")
    node.wait_for(r"gate: cannot reach http://127.0.0.1:\d+ \(ConnectionError\); next frame in 1 s")
    app = live_server().server.app   # the same app, served on the port the node was told about
    late = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=late.serve_forever, daemon=True).start()
    try:
        wait_until(lambda: port_answers(port), 10, "the late server")
        files = [("image", ("a.jpg", photo_bytes("madonna", 0, "train"), "image/jpeg"))]
        requests.post(f"http://127.0.0.1:{port}/enroll", files=files, data={"name": "Madonna"}, timeout=30)
        node.wait_for(r"gate: Madonna", timeout=90)
        assert node.stop(signal.SIGTERM) == 0
    finally:
        late.shutdown()
        camera.shutdown()


def test_bad_source_and_bad_key(live_server, tmp_path):
    node = Node("http://127.0.0.1:1", tmp_path / "missing.mp4", "--camera-id", "x")
    assert node.process.wait(timeout=60) != 0 and node.wait_for("no such file")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    node = Node("http://127.0.0.1:1", broken, "--camera-id", "x")
    assert node.process.wait(timeout=60) != 0 and node.wait_for("cannot read the video file")
    secured = live_server(api_keys=("right",))
    camera = Camera(MADONNA)
    node = Node(secured.url, camera.url + "/snapshot.jpg", "--camera-id", "x", api_key="wrong")
    assert node.process.wait(timeout=60) != 0 and node.wait_for("refused the API key")
    camera.shutdown()


def gstreamer_rtsp_available() -> bool:
    if not shutil.which("/usr/bin/python3"):
        return False
    check = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run(["/usr/bin/python3", "-c", check], capture_output=True).returncode == 0


@pytest.mark.skipif(not gstreamer_rtsp_available(), reason="Debian's GStreamer RTSP server bindings are missing "
                    "(scripts/test.sh installs gir1.2-gst-rtsp-server-1.0 and python3-gi)")
def test_an_rtsp_stream(server, video):
    port = free_port()
    rtsp = subprocess.Popen(["/usr/bin/python3", str(ROOT / "tests" / "rtsp_serve.py"), str(port), str(video)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert rtsp.stdout.readline().strip() == "serving"
        node = Node(server.url, f"rtsp://127.0.0.1:{port}/camera", "--camera-id", "porch", "--fps", "5")
        node.wait_for(r"porch: Madonna", timeout=60)
        assert node.stop() == 0
    finally:
        rtsp.terminate()
        rtsp.wait(timeout=10)


def test_motion_detection():
    from app.camera_node import Motion
    motion = Motion(0.01)
    still = bgr(GRAY)
    assert motion.moved(still)   # the first frame is always looked at
    assert not motion.moved(still.copy())
    noisy = np.clip(still.astype(int) + np.random.default_rng(0).integers(-3, 4, still.shape), 0, 255).astype(np.uint8)
    assert not motion.moved(noisy)   # sensor noise is not motion
    assert motion.moved(bgr(MADONNA))
