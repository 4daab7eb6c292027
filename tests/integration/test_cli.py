"""The operators' command line against a live server over HTTP."""
import codecs
import json
import os
import shutil

import numpy as np
import pytest
import requests
from click.testing import CliRunner
from images import truncated

from app.cli import cli
from samples.photos import PEOPLE, encode_jpeg, photo_files

KEY = "cli-test-key"


@pytest.fixture
def server(live_server):
    return live_server(api_keys=(KEY,))


def run(server, *args, key=KEY):
    result = CliRunner().invoke(cli, ["--url", server.url, "--api-key", key, *args], catch_exceptions=False)
    return result


@pytest.fixture
def enroll_folder(tmp_path):
    """Two photos per person in subfolders, plus files the server must refuse."""
    folder = tmp_path / "known_people"
    for person in PEOPLE:
        (folder / person).mkdir(parents=True)
        for path in photo_files(person, "train")[:2]:
            shutil.copy(path, folder / person / path.name)
    (folder / "madonna" / "blank.jpg").write_bytes(encode_jpeg(np.full((200, 200, 3), 128, np.uint8)))
    (folder / "madonna" / "cut.jpg").write_bytes(truncated(photo_files("madonna", "train")[3].read_bytes()))
    (folder / "madonna" / "notes.txt").write_text("not a photo")
    return folder


def test_enroll_dir_reports_bad_files_and_carries_on(server, enroll_folder):
    result = run(server, "enroll-dir", str(enroll_folder))
    assert result.exit_code == 0, result.output
    assert "10 faces added for 5 people; 3 images skipped" in result.output
    assert "skipped madonna/blank.jpg: no face found" in result.output
    assert "skipped madonna/cut.jpg: truncated JPEG" in result.output
    assert "skipped madonna/notes.txt: the data is not an image" in result.output
    again = run(server, "enroll-dir", str(enroll_folder))  # a second run adds to the same people
    assert "10 faces added for 5 people" in again.output
    people = requests.get(f"{server.url}/people", headers={"X-API-Key": KEY}, timeout=10).json()
    assert sorted((p["name"], p["face_count"]) for p in people["people"]) == [(p, 4) for p in PEOPLE]


def test_recognize_dir_writes_results(server, enroll_folder, tmp_path):
    run(server, "enroll-dir", str(enroll_folder))
    unknown = tmp_path / "unknown_people"
    unknown.mkdir()
    for person in PEOPLE:
        shutil.copy(photo_files(person, "val")[0], unknown / f"{person}.jpg")
    (unknown / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    out, txt = tmp_path / "results.json", tmp_path / "results.txt"
    result = run(server, "recognize-dir", str(unknown), "--out", str(out), "--txt", str(txt))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["summary"]["images"] == 6 and report["summary"]["errors"] == 1
    assert report["summary"]["p95_ms"] >= report["summary"]["p50_ms"] > 0
    by_image = {r["image"]: r for r in report["results"]}
    for person in PEOPLE:
        assert by_image[f"{person}.jpg"]["faces"][0]["name"] == person
    assert "not an image" in by_image["broken.jpg"]["error"]
    lines = txt.read_text().splitlines()
    assert lines[0] == "image\ttime_ms\tfaces" and len(lines) == 7
    assert any(line.startswith("madonna.jpg\t") and line.endswith("\tmadonna") for line in lines)


def test_export_and_import_move_a_gallery(live_server, enroll_folder, tmp_path):
    source, target = live_server(api_keys=(KEY,)), live_server(api_keys=(KEY,))
    run(source, "enroll-dir", str(enroll_folder))
    backup = tmp_path / "gallery.json"
    result = run(source, "export", str(backup))
    assert "exported 5 people, 10 faces" in result.output
    result = run(target, "import", str(backup), "--batch-bytes", "20000")  # several requests
    assert result.exit_code == 0 and "imported 5 new people, 10 faces" in result.output
    again = run(target, "import", str(backup))
    assert "imported 0 new people, 0 faces" in again.output  # nothing twice
    exported_again = tmp_path / "again.json"
    run(target, "export", str(exported_again))
    first, second = json.loads(backup.read_text()), json.loads(exported_again.read_text())
    assert sorted((p["person_id"], p["name"], len(p["faces"])) for p in first["people"]) == \
        sorted((p["person_id"], p["name"], len(p["faces"])) for p in second["people"])
    person = json.loads(backup.read_text())["people"][0]
    assert requests.patch(f"{target.url}/people/{person['person_id']}", json={"name": "Someone Else"},
                          headers={"X-API-Key": KEY}, timeout=10).status_code == 200
    saved = tmp_path / "saved-by-an-editor.json"   # with a UTF-8 byte order mark, as Windows editors write
    saved.write_bytes(codecs.BOM_UTF8 + backup.read_bytes())
    for batching in ([], ["--batch-bytes", "20000"]):
        result = run(target, "import", str(saved), *batching)
        assert result.exit_code == 0 and "imported 0 new people, 0 faces" in result.output, result.output
        assert f"kept the name here: {person['person_id']} ({person['name']} in the file): named Someone Else" \
            in result.output


def cut_short_server(body: bytes):
    """An HTTP server whose every answer is a 200 that promises twice `body` and sends `body`
    alone, then closes: a connection lost half way through an export (a restart, the network)."""
    import socket
    import threading
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % (2 * len(body)) + body)
    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_an_export_cut_short_keeps_the_last_good_file(server, enroll_folder, tmp_path):
    run(server, "enroll-dir", str(enroll_folder))
    backup = tmp_path / "gallery.json"
    assert run(server, "export", str(backup)).exit_code == 0
    mask = os.umask(0)
    os.umask(mask)
    assert backup.stat().st_mode & 0o777 == 0o666 & ~mask   # as a file written in place would be
    good = backup.read_bytes()
    listener = cut_short_server(good[:len(good) // 2])
    try:
        url = "http://127.0.0.1:%d" % listener.getsockname()[1]
        result = CliRunner().invoke(cli, ["--url", url, "export", str(backup)], catch_exceptions=False)
    finally:
        listener.close()
    assert result.exit_code == 1 and "Error:" in result.output
    assert backup.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".gallery.json")] == []   # no part left
    missing = run(server, "export", str(tmp_path / "no such folder" / "gallery.json"))
    assert missing.exit_code == 1 and "cannot write" in missing.output


def test_import_refuses_another_model_into_a_gallery(server, tmp_path):
    import base64

    from samples.photos import photo_bytes
    enrolled = requests.post(f"{server.url}/enroll", headers={"X-API-Key": KEY}, data={"name": "Madonna"},
                             files={"image": ("m.jpg", photo_bytes("madonna", 0, "train"))}, timeout=30)
    assert enrolled.status_code == 201
    vector = base64.b64encode(np.eye(512, dtype="<f4")[0].tobytes()).decode()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "facerec-gallery/1", "model": "arcface-r100/box", "people": [
        {"person_id": "p1", "name": "Someone", "faces": [{"face_id": "f1", "embedding": vector}]}]}))
    result = run(server, "import", str(other))
    assert result.exit_code != 0
    assert "made by 'arcface-r100/box'" in result.output and "cannot be compared" in result.output
    negative = run(server, "import", str(other), "--batch-bytes", "-5")   # was one person per request
    assert negative.exit_code == 2 and "--batch-bytes" in negative.output
    people = requests.get(f"{server.url}/people", headers={"X-API-Key": KEY}, timeout=10).json()
    assert [p["name"] for p in people["people"]] == ["Madonna"]


def test_evaluate_over_http(server, celebrities, tmp_path):
    folder = tmp_path / "photos"
    for split in ("train", "val"):
        for person in ("madonna", "jerry_seinfeld"):
            shutil.copytree(celebrities / split / person, folder / split / person)
    out = tmp_path / "eval.json"
    result = run(server, "evaluate", str(folder), "--out", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    m = report["variants"]["server"]
    assert m["rank1"] == m["probes"] == 10
    assert report["model"].startswith("facenet-")


def test_a_wrong_key_is_reported(server, tmp_path):
    result = CliRunner().invoke(cli, ["--url", server.url, "--api-key", "nope", "export", str(tmp_path / "x.json")])
    assert result.exit_code != 0 and "wants a valid API key" in result.output


def test_help_lists_one_command_per_line():
    """--help as users read it: the usage line as written, then each command on its own line with
    its arguments and whole summary (click's rewrapping once ran them together into one paragraph)."""
    result = CliRunner().invoke(cli, ["--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "      python -m app.cli [--url http://host:5000] [--api-key KEY] COMMAND ..." in lines
    commands = lines[lines.index("Commands:") + 1:]
    starts = [line.split()[0] for line in commands if line.startswith("  ") and not line.startswith("    ")]
    assert starts == sorted(cli.commands)
    assert "  enroll-dir FOLDER     Enroll every person of FOLDER (the largest face of each image)." in commands
    assert not any("..." in line for line in commands)


def test_bad_arguments_are_errors_before_any_work_not_tracebacks(server, tmp_path):
    """Each was a traceback, a run that only failed after sending every image, or a camera node
    sending frames the server refuses, forever."""
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"not sent")
    nowhere = str(tmp_path / "no such folder" / "x.json")
    for args in (["camera", "clip.avi", "--camera-id", "door", "--timeout", "0"],
                 ["camera", "clip.avi", "--camera-id", "door", "--max-width", "-5"],
                 ["camera", "clip.avi", "--camera-id", "a\x01b"],
                 ["camera", "clip.avi", "--camera-id", "x" * 300],
                 ["recognize-dir", str(tmp_path / "photos"), "--out", nowhere],
                 ["recognize-dir", str(tmp_path / "photos"), "--txt", nowhere],
                 ["evaluate", str(tmp_path / "photos")],
                 ["frigate", "--mqtt-url", "mqtt://localhost:99999"],
                 ["frigate", "--mqtt-url", "mqtt://[::1"]):
        result = run(server, *args)
        assert result.exit_code in (1, 2) and "Error" in result.output, (args, result.output)
