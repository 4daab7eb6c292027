"""A Frigate stand-in for the bridge's tests: Frigate itself cannot run here, so this is the
small part of it the bridge talks to, written from Frigate's source (blakeblackshear/frigate,
dev branch at commit e3fa701, after v0.18.0-beta1; docs/frigate.md names it). Nothing of
Frigate's code is copied.

HTTP (FrigateStandin, a ThreadingHTTPServer on loopback):
- POST /api/login {"user", "password"} -> 200 with the cookie `frigate_token`, else 401
  (frigate/api/auth.py login(); AppPostLoginBody in frigate/api/defs/request/app_body.py).
  With `users` set every other /api/ route wants that JWT as "Authorization: Bearer" or as
  the cookie, else 401 (auth.py auth(): header first, then cookie). Our token is an opaque
  random string: the bridge never reads inside Frigate's JWT.
- GET /api/events/<id>/snapshot.jpg?crop&height&quality -> the event's next JPEG, header
  X-Frame-Time; 404 {"success": false, "message"} for an unknown event
  (frigate/api/media.py event_snapshot(); MediaEventsSnapshotQueryParams).
- GET /api/<camera>/latest.jpg -> the camera's next JPEG (media.py latest_frame()).
- POST /api/events/<id>/sub_label {"subLabel" (<= 100 chars), "subLabelScore" (0 < s <= 1)}
  -> 200 {"success": true, "message"}; 422 for a body EventsSubLabelBody refuses; 404 for an
  unknown event (frigate/api/event.py set_sub_label()). Every accepted write is recorded.
- A POST with an Origin header and no X-CSRF-TOKEN -> 401 (frigate/api/fastapi_app.py check_csrf).

MQTT (frigate_event(), object_update()): the payloads Frigate publishes, from
frigate/track/object_processing.py (update(): {"before", "after", "type": "new"|"update"};
end(): type "end") with each side TrackedObject.to_dict() (frigate/track/tracked_object.py),
and `tracked_object_update` of type "face" (frigate/data_processing/real_time/face.py).
"""
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class FrigateStandin:
    def __init__(self, users: dict[str, str] | None = None, port: int = 0):
        self.users = users or {}
        self.tokens: set[str] = set()
        self.snapshots: dict[str, list[bytes]] = {}   # event id -> JPEGs, served in turn (the last kept)
        self.latest: dict[str, list[bytes]] = {}      # camera -> JPEGs
        self.sub_labels: list[tuple[str, dict]] = []  # (event id, body) of every accepted write
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.lock = threading.Lock()
        self.port, self.server, self.thread = port, None, None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_event(self, event_id: str, images: list[bytes]) -> None:
        with self.lock:
            self.snapshots[event_id] = list(images)

    def start(self) -> "FrigateStandin":
        handler = type("Handler", (_Handler,), {"standin": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Frigate goes away (the port is closed; start() brings it back on the same port)."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def writes(self, event_id: str) -> list[dict]:
        with self.lock:
            return [body for eid, body in self.sub_labels if eid == event_id]


class _Handler(BaseHTTPRequestHandler):
    standin: FrigateStandin

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body, content_type="application/json", headers=None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        with self.standin.lock:
            self.standin.requests.append((self.command, urlsplit(self.path).path, status))

    def _authorized(self) -> bool:
        if not self.standin.users:
            return True
        token = None
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer "):]
        else:
            for part in self.headers.get("Cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == "frigate_token":
                    token = value
        return token in self.standin.tokens

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return None

    def do_GET(self):
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/api/version":
            return self._answer(200, b"0.18.0-standin", "text/plain")
        if not self._authorized():
            return self._answer(401, {"success": False, "message": "Unauthorized"})
        pieces = path.strip("/").split("/")
        if len(pieces) == 4 and pieces[:2] == ["api", "events"] and pieces[3] == "snapshot.jpg":
            for name in ("crop", "height", "quality"):
                if name in query and not query[name][0].lstrip("-").isdigit():
                    return self._answer(422, {"detail": [{"loc": ["query", name], "msg": "not an integer"}]})
            return self._image(self.standin.snapshots, pieces[2], "Ongoing event not found")
        if len(pieces) == 3 and pieces[0] == "api" and pieces[2].startswith("latest."):
            return self._image(self.standin.latest, pieces[1], "Camera not found")
        return self._answer(404, {"success": False, "message": "Not found"})

    def _image(self, source: dict, key: str, missing: str):
        with self.standin.lock:
            images = source.get(key)
            image = (images.pop(0) if len(images) > 1 else images[0]) if images else None
        if image is None:
            return self._answer(404, {"success": False, "message": missing})
        return self._answer(200, image, "image/jpeg", {"X-Frame-Time": f"{time.time():.6f}"})

    def do_POST(self):
        path = urlsplit(self.path).path
        if "Origin" in self.headers and "X-CSRF-TOKEN" not in self.headers:
            return self._answer(401, {"success": False, "message": "Missing CSRF header"})
        body = self._body()
        if path == "/api/login":
            ok = isinstance(body, dict) and self.standin.users.get(body.get("user")) == body.get("password")
            if not (self.standin.users and ok):
                return self._answer(401, {"message": "Login failed"})
            token = secrets.token_urlsafe(24)
            self.standin.tokens.add(token)
            return self._answer(200, b"", "text/plain", {"Set-Cookie": f"frigate_token={token}; HttpOnly; Path=/"})
        if not self._authorized():
            return self._answer(401, {"success": False, "message": "Unauthorized"})
        pieces = path.strip("/").split("/")
        if len(pieces) == 4 and pieces[:2] == ["api", "events"] and pieces[3] == "sub_label":
            return self._sub_label(pieces[2], body)
        return self._answer(404, {"success": False, "message": "Not found"})

    def _sub_label(self, event_id: str, body):
        label = body.get("subLabel") if isinstance(body, dict) else None
        score = body.get("subLabelScore") if isinstance(body, dict) else None
        if not isinstance(label, str) or len(label) > 100 or (
                score is not None and (not isinstance(score, (int, float)) or not 0 < score <= 1)):
            return self._answer(422, {"detail": [{"loc": ["body"], "msg": "invalid sub label body"}]})
        if event_id not in self.standin.snapshots:
            return self._answer(404, {"success": False, "message": f"Event {event_id} not found."})
        with self.standin.lock:
            self.standin.sub_labels.append((event_id, body))
        return self._answer(200, {"success": True, "message": f"Event {event_id} sub label set to {label}"})


def tracked_object(event_id: str, camera: str, label: str = "person", zones=(), sub_label=None,
                   area: int = 40000, end_time=None) -> dict:
    """One side (before / after) of a `frigate/events` message: TrackedObject.to_dict()'s keys."""
    now = time.time()
    start = float(event_id.split("-")[0]) if event_id.split("-")[0].replace(".", "").isdigit() else now
    box = [100, 50, 300, 250]
    return {"id": event_id, "camera": camera, "frame_time": now,
            "snapshot": {"frame_time": now, "box": box, "area": area, "region": [0, 0, 640, 640], "score": 0.9,
                         "attributes": [], "current_estimated_speed": 0, "velocity_angle": 0, "path_data": [],
                         "recognized_license_plate": None, "recognized_license_plate_score": None},
            "snapshot_clean": True, "label": label, "sub_label": sub_label, "top_score": 0.9,
            "false_positive": False, "start_time": start, "end_time": end_time, "score": 0.88,
            "computed_score": 0.9, "box": box, "area": area, "ratio": 1.0, "region": [0, 0, 640, 640],
            "active": True, "stationary": False, "motionless_count": 0, "position_changes": 1,
            "current_zones": list(zones), "entered_zones": list(zones), "has_clip": True, "has_snapshot": True,
            "attributes": {}, "current_attributes": [], "pending_loitering": False, "max_severity": "alert",
            "current_estimated_speed": 0, "average_estimated_speed": 0, "velocity_angle": 0, "path_data": [],
            "recognized_license_plate": None}


def frigate_event(kind: str, event_id: str, camera: str, **fields) -> bytes:
    """A `frigate/events` payload of type new / update / end."""
    after = tracked_object(event_id, camera, **fields)
    if kind == "end":
        after["end_time"] = time.time()
    before = {**after, "false_positive": kind == "new"}
    return json.dumps({"before": before, "after": after, "type": kind}).encode()


def object_update(event_id: str, camera: str, name: str, score: float) -> bytes:
    """A `frigate/tracked_object_update` of type face (Frigate's own face recognition)."""
    return json.dumps({"type": "face", "name": name, "score": score, "id": event_id, "camera": camera,
                       "timestamp": time.time()}).encode()


class FrigateMqtt:
    """Publishes as Frigate does, to a real broker (topic prefix `prefix`)."""

    def __init__(self, port: int, prefix: str = "frigate"):
        self.prefix = prefix
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"frigate-{secrets.token_hex(4)}")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(f"{self.prefix}/{topic}", payload, qos=1).wait_for_publish(timeout=10)

    def event(self, kind: str, event_id: str, camera: str, **fields) -> None:
        self.publish("events", frigate_event(kind, event_id, camera, **fields))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
