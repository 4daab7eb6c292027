"""Gunicorn's own answers in the API's error shape: a request Gunicorn refuses before the app
sees it (a request line over 4094 bytes, more than 100 headers, a header it cannot read) got
its HTML page, which no client of a JSON API reads. Gunicorn has no setting for that page, so
config/gunicorn.conf.py puts json_error() in the place of gunicorn.util.write_error (the one
function its workers answer with) when the server starts; everything else stays Gunicorn's."""
import json

# The API's codes for what Gunicorn refuses (app/errors.py and nginx's own pages use the same).
CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed",
         431: "headers_too_large", 500: "internal_error", 501: "not_implemented"}


def json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """What gunicorn.util.write_error writes, as JSON {"error": {"code", "message"}}."""
    from gunicorn.util import write_nonblock

    code = CODES.get(status_int, "bad_request" if status_int < 500 else "internal_error")
    message = (mesg or reason)[:300]   # Gunicorn's messages quote what it refused, which may be 8 KB
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    write_nonblock(sock, head + body)
