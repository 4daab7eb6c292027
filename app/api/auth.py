"""Who may call: API keys, and browsers of other sites.

With API_KEYS set, every request needs a valid X-API-Key header, except the endpoints that
hold no data (liveness, the page and its static files; the page's own API calls carry the
key). Keys are compared in constant time against every configured key. The compatibility
APIs check the same keys where their clients send them, and answer in their own error shapes
(OWN_KEY_CHECK: app/api/deepstack.py, app/api/compreface_io.py).

A request that changes the gallery (POST, PUT, PATCH, DELETE) and carries an Origin header of
another site is refused unless it carries a valid key or the origin is in ALLOWED_ORIGINS: a
form on any web page could otherwise enroll or delete people through a visitor's browser
when the server runs without keys (a browser always sends Origin on such requests; camera
nodes and integrations send none)."""
import hmac
from urllib.parse import urlsplit

from flask import Flask, request

from app.errors import CrossSiteRequest, Unauthorized

PUBLIC_ENDPOINTS = {"ops.healthz", "web.index", "static"}
OWN_KEY_CHECK = {"deepstack", "compreface", "compreface_gallery"}   # blueprints checking keys themselves
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def given_key() -> str:
    """The key the client sent."""
    return request.headers.get("X-API-Key", "")


def key_is_valid(given: str, keys: tuple[str, ...]) -> bool:
    """`given` is one of `keys` (any key when there are none)."""
    if not keys:
        return True
    valid = False
    for key in keys:  # compare with every key, in constant time each: no early exit
        valid |= hmac.compare_digest(key.encode(), given.encode())
    return valid


def guard(app: Flask, keys: tuple[str, ...], allowed_origins: tuple[str, ...]) -> None:
    """Refuse requests without a valid key (when there are keys) and cross-site writes."""

    @app.before_request
    def check_caller():
        if request.endpoint in PUBLIC_ENDPOINTS:
            return
        if keys:
            if request.blueprint not in OWN_KEY_CHECK and not key_is_valid(given_key(), keys):
                raise Unauthorized("a valid X-API-Key header is required" if given_key()
                                   else "this server requires an X-API-Key header")
            return  # a valid key is needed: whatever page the request comes from, its sender holds it
        origin = request.headers.get("Origin")
        if request.method not in SAFE_METHODS and origin is not None and not _same_site(origin, allowed_origins):
            raise CrossSiteRequest(f"a {request.method} from a page of another site ({origin[:100]}) is refused; "
                                   "send an X-API-Key, or add the site to ALLOWED_ORIGINS")


def _same_site(origin: str, allowed: tuple[str, ...]) -> bool:
    if origin.lower() in allowed:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:   # not a URL ("http://[::1"): no site of ours sent it
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()
