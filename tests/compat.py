"""Shared by the compatibility API tests: the venv of the real client libraries
(.venv-clients, scripts/setup_clients.sh), running a client script in it against a live
server, the photos they send, and requests shaped exactly like Double Take's."""
import json
import subprocess

import numpy as np
import pytest
import requests
from urllib3 import encode_multipart_formdata

from samples.photos import encode_jpeg, photo_files, three_face_frame
from scripts.pypi_assets import ROOT

CLIENTS = ROOT / "tests" / "clients"


@pytest.fixture(scope="session")
def client_python():
    """The interpreter of .venv-clients, made (or brought up to date) by scripts/setup_clients.sh."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / "setup_clients.sh")], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return ROOT / ".venv-clients" / "bin" / "python"


def run_client(python, script: str, *args: str) -> dict:
    """Run tests/clients/<script> with the clients' venv; its JSON report."""
    done = subprocess.run([str(python), str(CLIENTS / script),
                           *map(str, args)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def photo_paths(tmp_path) -> dict:
    """Madonna's training photos, a val photo of her, a stranger, a three-face frame (Ben,
    Madonna, Jerry from left to right) and an image without a face, as files."""
    group, faceless = tmp_path / "group.jpg", tmp_path / "faceless.jpg"
    group.write_bytes(encode_jpeg(three_face_frame()))
    faceless.write_bytes(encode_jpeg(np.full((240, 320, 3), 120, np.uint8)))
    return {"train": [str(p) for p in photo_files("madonna", "train")[:3]],
            "probe": str(photo_files("madonna")[0]), "stranger": str(photo_files("elton_john")[0]),
            "group": str(group), "faceless": str(faceless)}


def double_take_post(url: str, fields: dict, headers: dict | None = None, method: str = "POST") -> requests.Response:
    """A request as Double Take 1.13 (axios 0.27 + form-data 4) sends it: multipart with
    filename and part Content-Type image/jpeg, Transfer-Encoding: chunked, no Content-Length."""
    body, content_type = encode_multipart_formdata(fields)
    chunks = [body[i:i + 16384] for i in range(0, len(body), 16384)]
    headers = {"content-type": content_type, "User-Agent": "axios/0.27.2", **(headers or {})}
    return requests.request(method, url, data=iter(chunks), headers=headers, timeout=60)
