"""The two HTTP peers of the bridge: Frigate's API and our face server. Both are retried the
same way: a peer that cannot be reached, times out or answers 5xx (or 429) is tried again
with backoff (0.5 s doubling to 30 s) for up to `retry_for_s`, so an outage shorter than that
loses nothing; any other answer is returned as it is.

Frigate's API, from its source (blakeblackshear/frigate, commit e3fa701, after v0.18.0-beta1):
- GET /api/events/<id>/snapshot.jpg?crop=1&height=&quality= (frigate/api/media.py,
  event_snapshot; query MediaEventsSnapshotQueryParams in
  frigate/api/defs/query/media_query_parameters.py): the object's best snapshot, while it is
  tracked and after; header X-Frame-Time is the frame's capture time (0.18; not in 0.17.2).
- GET /api/<camera>/latest.jpg?height= (frigate/api/media.py, latest_frame).
- POST /api/events/<id>/sub_label {"subLabel": <= 100 chars, "subLabelScore": (0, 1]}
  (frigate/api/event.py, set_sub_label; body EventsSubLabelBody in
  frigate/api/defs/request/events_body.py); admin role when auth is on.
- Auth (0.14+; frigate/api/auth.py): POST /api/login {"user", "password"} sets the JWT as the
  cookie `frigate_token` (auth.cookie_name); the same JWT is accepted as "Authorization:
  Bearer". Port 5000 (internal) needs none. POSTs carrying an Origin header also need
  X-CSRF-TOKEN (frigate/api/fastapi_app.py, check_csrf); the bridge sends no Origin.
"""
import logging
import math
import threading
import time
from collections.abc import Callable

import requests

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0
RETRIED_STATUS = {429, 500, 502, 503, 504}


def frame_time_of(header: str) -> float | None:
    """X-Frame-Time as epoch seconds, or None when absent or implausible (the server would refuse
    a timestamp before 2000 or over a day ahead: the frame then goes with the server's clock)."""
    try:
        value = float(header)
    except ValueError:
        return None
    return value if math.isfinite(value) and 946_684_800 <= value <= time.time() + 86_400 else None


class Unreachable(RuntimeError):
    """The peer stayed unreachable (or kept failing) for the whole retry time, or we are stopping."""


class Peer:
    """One HTTP peer with retries; `stop` ends the waiting early (shutdown)."""

    def __init__(self, url: str, timeout_s: float, retry_for_s: float, stop: threading.Event | None = None,
                 name: str = "peer"):
        self.url, self.timeout_s, self.retry_for_s = url.rstrip("/"), timeout_s, retry_for_s
        self.stop = stop or threading.Event()
        self.name = name
        self.session = requests.Session()

    def request(self, method: str, path: str, prepare: Callable[[], dict] | None = None, **kwargs) -> requests.Response:
        """The first answer that is not worth retrying; Unreachable when retry_for_s ran out.

        The retry loop is ours rather than urllib3's Retry: its sleeps cannot be cut short, and a
        bridge stopping (SIGTERM) must not sit out a backoff, so ours waits on `stop`."""
        deadline, delay = time.monotonic() + self.retry_for_s, 0.5
        while True:
            extra = prepare() if prepare else {}
            try:
                response = self.session.request(method, self.url + path, timeout=self.timeout_s,
                                                **{**kwargs, **extra})
                if response.status_code not in RETRIED_STATUS:
                    return response
                response.close()
                why = f"answered {response.status_code}"
            except requests.RequestException as e:
                why = f"unreachable ({type(e).__name__})"
            if time.monotonic() + delay > deadline or self.stop.is_set():
                raise Unreachable(f"{self.name} {self.url} {why}; gave up after {self.retry_for_s:.0f} s")
            log.warning("%s %s %s %s; retrying in %.1f s", self.name, method, path, why, delay)
            if self.stop.wait(delay):
                raise Unreachable(f"{self.name} {self.url} {why}; stopping")
            delay = min(MAX_BACKOFF_S, delay * 2)


class FrigateApi(Peer):
    def __init__(self, url: str, user: str = "", password: str = "", token: str = "", **kwargs):
        super().__init__(url, name="Frigate", **kwargs)
        self.user, self.password, self.token = user, password, token
        self._login_lock = threading.Lock()

    def _auth(self) -> dict:
        return {"headers": {"Authorization": f"Bearer {self.token}"}} if self.token else {}

    def login(self) -> None:
        """A fresh JWT from /api/login (its cookie), when a user and password are configured."""
        with self._login_lock:
            response = self.request("POST", "/api/login", json={"user": self.user, "password": self.password})
            if response.status_code != 200:
                raise PermissionError(f"Frigate refused the login of {self.user!r} ({response.status_code})")
            token = response.cookies.get("frigate_token") or next(iter(response.cookies.values()), "")
            if not token:
                raise PermissionError("Frigate's login answer carried no token cookie")
            self.token = token

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        """A request with the JWT; an expired or missing one is renewed once (401)."""
        if self.user and not self.token:
            self.login()
        response = self.request(method, path, prepare=self._auth, **kwargs)
        if response.status_code == 401 and self.user:
            self.login()
            response = self.request(method, path, prepare=self._auth, **kwargs)
        return response

    def image(self, path: str, params: dict, max_bytes: int) -> tuple[bytes, float | None] | None:
        """(JPEG, X-Frame-Time) or None when Frigate has no such image (404 and other 4xx)."""
        response = self.call("GET", path, params=params, stream=True)
        with response:
            if response.status_code != 200:
                log.info("Frigate GET %s answered %s: %s", path, response.status_code, response.text[:200])
                return None
            content = bytearray()
            try:
                for piece in response.iter_content(1 << 16):   # read no more than the limit, whatever it claims
                    content += piece
                    if len(content) > max_bytes:
                        log.warning("Frigate GET %s: more than %d bytes; skipped", path, max_bytes)
                        return None
            except requests.RequestException as e:
                log.warning("Frigate GET %s broke off (%s); skipped", path, type(e).__name__)
                return None
        return bytes(content), frame_time_of(response.headers.get("X-Frame-Time", ""))

    def set_sub_label(self, event_id: str, name: str, score: float | None) -> bool:
        """Write the event's sub_label; False when Frigate refuses it (unknown event, bad value)."""
        body: dict[str, str | float] = {"subLabel": name[:100]}
        if score is not None:
            body["subLabelScore"] = min(1.0, max(0.01, round(score, 4)))
        response = self.call("POST", f"/api/events/{event_id}/sub_label", json=body)
        if response.status_code != 200:
            log.warning("Frigate refused the sub_label of %s (%s): %s", event_id, response.status_code,
                        response.text[:200])
        return response.status_code == 200


class FaceServer(Peer):
    """Our server's native /recognize, as a client (like app/camera_node.py)."""

    def __init__(self, url: str, api_key: str = "", **kwargs):
        super().__init__(url, name="face server", **kwargs)
        if api_key:
            self.session.headers["X-API-Key"] = api_key

    def recognize(self, image: bytes, camera: str, visit_key: str, timestamp: float | None) -> dict | None:
        """The /recognize answer, or None when the server refused the frame (4xx, logged)."""
        params = {"camera_id": camera, "visit_key": visit_key}
        if timestamp is not None:
            params["timestamp"] = f"{timestamp:.3f}"
        response = self.request("POST", "/recognize", params=params, data=image,
                                headers={"Content-Type": "image/jpeg"})
        if response.status_code != 200:
            log.warning("the face server refused a frame of %s (%s): %s", visit_key, response.status_code,
                        response.text[:200])
            return None
        try:
            return response.json()
        except ValueError:
            log.warning("the face server answered a frame of %s with no JSON", visit_key)
            return None

    def track(self, track_id: str) -> dict | None:
        response = self.request("GET", f"/tracks/{track_id}")
        return response.json() if response.status_code == 200 else None
