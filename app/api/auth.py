"""API keys: with API_KEYS set, every request needs a valid X-API-Key header, except the
endpoints that hold no data (liveness, the page and its static files; the page's own API
calls carry the key). Keys are compared in constant time against every configured key."""
import hmac

from flask import Flask, request

from app.errors import Unauthorized

PUBLIC_ENDPOINTS = {"ops.healthz", "web.index", "static"}


def given_key() -> str:
    """The key the client sent."""
    return request.headers.get("X-API-Key", "")


def require_api_keys(app: Flask, keys: tuple[str, ...]) -> None:
    """Refuse every non-public request without one of `keys` (nothing when there are none)."""
    if not keys:
        return
    expected = [k.encode() for k in keys]

    @app.before_request
    def check_api_key():
        if request.endpoint in PUBLIC_ENDPOINTS:
            return
        given = given_key().encode()
        valid = False
        for key in expected:  # compare with every key, in constant time each: no early exit
            valid |= hmac.compare_digest(key, given)
        if not valid:
            raise Unauthorized("a valid X-API-Key header is required" if given
                               else "this server requires an X-API-Key header")
