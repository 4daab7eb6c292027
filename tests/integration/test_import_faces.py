"""`python -m app.cli import-faces` against a live app (real models over gRPC, real Redis):
Frigate's face library (webp in person folders, its train/ skipped), Double Take's train
folders, and a CompreFace recognition service read through its API (here our own
CompreFace-compatible API stands in for it); --dry-run refuses what it should and enrolls nothing."""
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from app.cli import cli
from samples.photos import photo, photo_bytes


def webp(rgb, quality=90) -> bytes:
    ok, data = cv2.imencode(".webp", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, quality])
    assert ok
    return data.tobytes()


def run(server, *args):
    result = CliRunner().invoke(cli, ["--url", server.url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def frigate_library(tmp_path):
    """/media/frigate/clips/faces as Frigate keeps it: <name>/*.webp, and train/ for attempts."""
    root = tmp_path / "faces"
    for person in ("madonna", "elton_john"):
        (root / person).mkdir(parents=True)
        for i in range(2):
            (root / person / f"{person}-{i}.webp").write_bytes(webp(photo(person, i, "train")))
    (root / "madonna" / "copy.webp").write_bytes(webp(photo("madonna", 0, "train"), 80))   # the same photo again
    (root / "madonna" / "wall.webp").write_bytes(webp(np.full((200, 200, 3), 120, np.uint8)))   # no face
    tiny = cv2.resize(photo("elton_john", 2, "train"), (24, 24), interpolation=cv2.INTER_AREA)
    (root / "elton_john" / "far.webp").write_bytes(webp(cv2.copyMakeBorder(tiny, 100, 100, 100, 100,
                                                                            cv2.BORDER_CONSTANT)))
    (root / "train").mkdir()
    (root / "train" / "1718000000.1-abc-madonna-0.95.webp").write_bytes(webp(photo("jerry_seinfeld", 0, "train")))
    return root


def people(server) -> dict:
    client = server.app.test_client()
    return {p["name"]: p["faces"] if isinstance(p.get("faces"), int) else len(p.get("faces", []))
            for p in client.get("/people").json["people"]}


def test_a_frigate_library_dry_run_then_import(live_server, frigate_library):
    server = live_server()
    dry = run(server, "import-faces", str(frigate_library), "--layout", "frigate", "--dry-run")
    assert "7 images: 4 would be enrolled for 2 people, 3 refused" in dry
    assert "refused madonna/wall.webp (madonna): no face" in dry
    assert "refused elton_john/far.webp (elton_john): low quality" in dry
    # copy.webp sorts first: the original is then the duplicate of the face checked before it
    assert "refused madonna/madonna-0.webp (madonna): duplicate of an enrolled face" in dry
    assert "jerry" not in dry and "train/" not in dry   # Frigate's unlabelled attempts are not a person
    assert server.app.test_client().get("/people").json["people"] == []   # a dry run enrolls nothing

    done = run(server, "import-faces", str(frigate_library), "--layout", "frigate")
    assert "7 images: 4 enrolled for 2 people, 3 refused" in done
    names = sorted(p["name"] for p in server.app.test_client().get("/people").json["people"])
    assert names == ["elton_john", "madonna"]
    again = run(server, "import-faces", str(frigate_library), "--layout", "frigate", "--dry-run")
    assert "0 would be enrolled" in again and "duplicate of an enrolled face: 5" in again


def test_double_take_train_folders(live_server, tmp_path):
    server = live_server()
    train = tmp_path / "storage" / "train" / "Mindy Kaling"
    train.mkdir(parents=True)
    for i in range(2):
        (train / f"{i}.jpg").write_bytes(photo_bytes("mindy_kaling", i, "train"))
    output = run(server, "import-faces", str(tmp_path / "storage"), "--layout", "double-take")
    assert "2 images: 2 enrolled for 1 people, 0 refused" in output
    [person] = server.app.test_client().get("/people").json["people"]
    assert person["name"] == "Mindy Kaling"


def test_a_compreface_service_through_its_api(live_server):
    source, target = live_server(), live_server()
    client = source.app.test_client()
    for person in ("madonna", "ben_afflek"):
        for i in range(2):
            response = client.post(f"/api/v1/recognition/faces?subject={person}",
                                   data={"file": (__import__("io").BytesIO(photo_bytes(person, i, "train")), "a.jpg")},
                                   content_type="multipart/form-data")
            assert response.status_code == 201, response.json
    output = run(target, "import-faces", "--compreface-url", source.url, "--compreface-key", "any")
    assert "4 images:" in output and "for 2 people" in output
    names = sorted(p["name"] for p in target.app.test_client().get("/people").json["people"])
    assert names == ["ben_afflek", "madonna"]


def test_a_source_is_required(live_server):
    result = CliRunner().invoke(cli, ["import-faces"])
    assert result.exit_code != 0 and "ROOT or --compreface-url" in result.output
