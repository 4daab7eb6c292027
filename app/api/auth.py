"""API keys: with API_KEYS set, every request needs a valid X-API-Key header, except the
endpoints that hold no data (liveness, the page and its static files; the page's own API
calls carry the key). Keys are compared in constant time against every configured key.
The compatibility APIs check the same keys where their clients send them, and answer in their
own error shapes (OWN_KEY_CHECK: app/api/deepstack.py, app/api/compreface_io.py)."""
import hmac

from flask import Flask, request

from app.errors import Unauthorized

PUBLIC_ENDPOINTS = {"ops.healthz", "web.index", "static"}
OWN_KEY_CHECK = {"deepstack", "compreface", "compreface_gallery"}   # blueprints checking keys themselves


def given_key() -> str:
    """The key the client sent."""
    return request.headers.get("X-API-Key", "")


def require_api_keys(app: Flask, keys: tuple[str, ...]) -> None:
    """Refuse every non-public request without one of `keys` (nothing when there are none)."""
    if not keys:
        return

    @app.before_request
    def check_api_key():
        if request.endpoint in PUBLIC_ENDPOINTS or request.blueprint in OWN_KEY_CHECK:
            return
        given = given_key()
        if not key_is_valid(given, keys):
            raise Unauthorized("a valid X-API-Key header is required" if given
                               else "this server requires an X-API-Key header")


def key_is_valid(given: str, keys: tuple[str, ...]) -> bool:
    """`given` is one of `keys` (any key when there are none)."""
    if not keys:
        return True
    valid = False
    for key in keys:  # compare with every key, in constant time each: no early exit
        valid |= hmac.compare_digest(key.encode(), given.encode())
    return valid
