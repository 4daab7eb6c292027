"""The port a user gets: nginx buffering in front of Gunicorn (as scripts/run.sh, compose and
Kubernetes run it). Slow and idle clients must not take the service down, a chunked body over
the limit is a 413 like one with a Content-Length, and nginx's own errors are JSON."""
import json
import socket
import threading
import time

import pytest
import requests

from samples.photos import photo_bytes
from scripts.processes import free_port, free_ports

MAX_BODY = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def front(gunicorn_server, tmp_path_factory):
    from scripts.nginx import start_nginx
    port = free_port()
    folder = tmp_path_factory.mktemp("nginx")
    process = start_nginx(folder, port, f"127.0.0.1:{gunicorn_server.port}", MAX_BODY)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


class SlowClient(threading.Thread):
    """A connection that sends its request a byte at a time, forever (until stopped): half of
    them stall in the headers, half in the body of a large upload."""

    def __init__(self, port, in_body, stop):
        super().__init__(daemon=True)
        self.port, self.in_body, self.stop = port, in_body, stop
        head = b"POST /recognize HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n"
        stalled_head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 5000
        self.data = head + b"\xff" * 100000 if in_body else stalled_head

    def run(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            start = self.data.index(b"\r\n\r\n") + 4 if self.in_body else 20
            s.sendall(self.data[:start])  # the body's clients send all their headers at once
            for i in range(start, len(self.data)):
                if self.stop.wait(0.3):
                    return
                try:
                    s.sendall(self.data[i:i + 1])
                except OSError:  # dropped by the server: fine, it is a slow client
                    return


def healthz_within(url, limit_s):
    start = time.monotonic()
    response = requests.get(url + "/healthz", timeout=limit_s)
    return response.status_code == 200 and time.monotonic() - start <= limit_s


def test_fifty_slow_clients_do_not_stop_the_service(front):
    port = int(front.rsplit(":", 1)[1])
    stop = threading.Event()
    clients = [SlowClient(port, in_body=i % 2 == 1, stop=stop) for i in range(50)]
    for client in clients:
        client.start()
    try:
        time.sleep(1.0)  # every slow connection is open and stalled
        answered = [healthz_within(front, 1.0) for _ in range(12) if not time.sleep(0.25)]
        assert all(answered), answered
        recognized = requests.post(front + "/recognize", data=photo_bytes("madonna", 0),
                                   headers={"Content-Type": "image/jpeg"}, timeout=30)
        assert recognized.status_code == 200 and len(recognized.json()["faces"]) == 1
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=5)


def chunked(total, piece=1 << 20):
    sent = 0
    while sent < total:
        yield b"\xff" * min(piece, total - sent)
        sent += piece


@pytest.mark.parametrize("through", ["nginx", "gunicorn"])
def test_a_chunked_body_over_the_limit_is_413(front, gunicorn_server, through):
    url = front if through == "nginx" else gunicorn_server.url
    try:
        response = requests.post(url + "/recognize", data=chunked(30 * 1024 * 1024),
                                 headers={"Content-Type": "image/jpeg"}, timeout=60)
    except requests.ConnectionError:  # the server may stop reading once it has answered
        pytest.fail(f"{through} dropped the connection instead of answering 413")
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "request_entity_too_large"
    boundary = b"----facerec"
    form = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + b"\xff" * (25 * 1024 * 1024) + b"\r\n--" + boundary + b"--\r\n")
    multipart = requests.post(url + "/enroll?name=Big", data=iter([form[i:i + (1 << 20)] for i in range(
        0, len(form), 1 << 20)]), headers={"Content-Type": "multipart/form-data; boundary=----facerec"}, timeout=60)
    assert multipart.status_code == 413, multipart.text[:300]
    small = requests.post(url + "/recognize", data=chunked(len(photo_bytes("madonna", 0))),
                          headers={"Content-Type": "image/jpeg"}, timeout=30)
    assert small.status_code == 400  # a chunked body under the limit is read whole (here: not an image)
    real = requests.post(url + "/recognize", data=iter([photo_bytes("madonna", 0)]),
                         headers={"Content-Type": "image/jpeg"}, timeout=30)
    assert real.status_code == 200 and len(real.json()["faces"]) == 1


def test_the_front_answers_in_json_when_the_app_is_away(tmp_path):
    from scripts.nginx import start_nginx
    port, nothing_there = free_ports(2)
    url = f"http://127.0.0.1:{port}/healthz"
    process = start_nginx(tmp_path, port, f"127.0.0.1:{nothing_there}", MAX_BODY, timeout_s=10,
                          answers=lambda: requests.get(url, timeout=1).status_code == 503)
    try:
        response = requests.get(url, timeout=5)
        assert response.json()["error"]["code"] == "app_unavailable"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_what_nginx_refuses_itself_is_json_too(front):
    """A long query, a long header or a request line it cannot read were nginx's HTML pages."""
    long_query = requests.get(front + "/events?count=1&x=" + "a" * 20_000, timeout=10)
    assert long_query.status_code == 414 and long_query.json()["error"]["code"] == "uri_too_long"
    long_header = requests.get(front + "/healthz", headers={"X-Big": "a" * 17_000}, timeout=10)
    assert long_header.status_code == 431 and long_header.json()["error"]["code"] == "headers_too_large"
    port = int(front.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")   # two Host headers
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400") and b'"code": "bad_request"' in answer, answer[:300]
    own = requests.get(front + "/events?count=abc", timeout=10)   # the app's own 400 passes as it is
    assert own.status_code == 400 and "count" in own.json()["error"]["message"]


def test_what_gunicorn_refuses_itself_is_json_too(front, gunicorn_server):
    """Between Gunicorn's limits and nginx's (a request line of 4-16 KB, over 100 headers), and a
    header Gunicorn cannot read, were Gunicorn's HTML pages."""
    long_query = requests.get(front + "/events?count=1&x=" + "a" * 10_000, timeout=10)
    assert long_query.status_code == 414 and long_query.json()["error"]["code"] == "uri_too_long"
    many = requests.get(front + "/healthz", headers={f"X-H{i}": "v" for i in range(120)}, timeout=10)
    assert many.status_code == 431 and many.json()["error"]["code"] == "headers_too_large"
    with socket.create_connection(("127.0.0.1", gunicorn_server.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n")   # straight to Gunicorn
        answer = s.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"Content-Type: application/json" in head, answer[:300]
    assert json.loads(body)["error"]["code"] == "bad_request"
