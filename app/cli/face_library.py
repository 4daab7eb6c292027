"""Import the face libraries users already have: Frigate's (`/media/frigate/clips/faces/<name>/
*.webp`; its `train/` folder holds unlabelled recent attempts and is skipped: FACE_DIR in
frigate/const.py, frigate/api/classification.py), Double Take's `train/<name>/` folders
(api/src/controllers/train.controller.js), any folder of person folders, or a running
CompreFace through its API (it has no file export: its examples live in its database; GET
/api/v1/recognition/faces and /faces/{image_id}/img give them back).

Every image is checked first with /embed (no side effect): refused when it has no face, when
its largest face is small or weakly detected (low quality), or when that face is a duplicate of
an enrolled face (from /gallery/export) or of an image imported before it. --dry-run only lists;
otherwise the rest is enrolled (/enroll, the largest face)."""
import base64
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import ijson
import numpy as np
import requests

from app.cli.base import cli, error_text, files_in, person_of

IMAGE_TYPES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
LAYOUTS = ("folders", "frigate", "double-take")


@dataclass
class Tally:
    accepted: list[tuple[str, str]] = field(default_factory=list)     # (image, person)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (image, person, why)


def folder_images(root: Path, layout: str) -> Iterator[tuple[str, str, bytes]]:
    """(label, person, image bytes) for each image of a library on disk."""
    if layout == "double-take" and (root / "train").is_dir():
        root = root / "train"    # the storage folder was given
    for path in files_in(root):
        relative = path.relative_to(root)
        if path.suffix.lower() not in IMAGE_TYPES or (layout == "frigate" and relative.parts[0] == "train"):
            continue
        if layout != "folders" and len(relative.parts) < 2:
            continue   # Frigate and Double Take keep every image in its person's folder
        yield str(relative), person_of(path, root), path.read_bytes()


def compreface_images(url: str, key: str, timeout_s: float = 60) -> Iterator[tuple[str, str, bytes]]:
    """(label, subject, image bytes) of every example of a CompreFace recognition service."""
    session, base = requests.Session(), url.rstrip("/") + "/api/v1/recognition/faces"
    session.headers["x-api-key"] = key
    page = 0
    while True:
        response = session.get(base, params={"page": page, "size": 100}, timeout=timeout_s)
        if response.status_code != 200:
            raise click.ClickException(f"CompreFace listed no faces ({response.status_code}): {response.text[:200]}")
        body = response.json()
        for face in body.get("faces", []):
            image = session.get(f"{base}/{face['image_id']}/img", timeout=timeout_s)
            if image.status_code == 200:
                yield f"{face['subject']}/{face['image_id']}", face["subject"], image.content
        page += 1
        if page >= body.get("total_pages", 0):
            return


def enrolled_embeddings(server, model: str) -> np.ndarray | None:
    """Every enrolled face's embedding (rows), from /gallery/export; None if of another model."""
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "gallery.json"
        status, body = server.call("GET", "/gallery/export", into=file)
        if status != 200:
            raise click.ClickException(error_text(body))
        with file.open("rb") as f:
            gallery_model = next((v for p, e, v in ijson.parse(f) if p == "model"), None)
        if gallery_model not in (None, model):
            return None
        with file.open("rb") as f:
            rows = [np.frombuffer(base64.b64decode(face["embedding"]), "<f4")
                    for person in ijson.items(f, "people.item") for face in person.get("faces", [])]
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def refusal(face: dict | None, min_face_px: int, min_score: float) -> str | None:
    if face is None:
        return "no face"
    box = face["box"]
    side = min(box["x2"] - box["x1"], box["y2"] - box["y1"])
    if side < min_face_px or face["score"] < min_score:
        return f"low quality (face {side:.0f} px, detector score {face['score']:.2f})"
    if face.get("reason") == "low_quality":
        return "low quality (the server's quality check)"
    return None


def nearest(known: list[np.ndarray], vector: np.ndarray) -> float:
    """The distance to the nearest known embedding (of the same width); inf when none."""
    distances = [np.linalg.norm(rows - vector, axis=1).min() for rows in known
                 if rows.ndim == 2 and len(rows) and rows.shape[1] == len(vector)]
    return float(min(distances, default=float("inf")))


@cli.command("import-faces")
@click.argument("root", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--layout", type=click.Choice(LAYOUTS), default="folders", show_default=True,
              help="frigate: /media/frigate/clips/faces (train/ skipped); double-take: its storage or train folder")
@click.option("--compreface-url", help="import from a running CompreFace instead of ROOT")
@click.option("--compreface-key", envvar="COMPREFACE_API_KEY", help="its recognition service's API key")
@click.option("--dry-run", is_flag=True, help="list what would be refused and why; enroll nothing")
@click.option("--min-face-px", default=32, show_default=True,
              help="a smaller face (its box's short side) is low quality")
@click.option("--min-score", default=0.8, show_default=True, help="a lower detector score is low quality")
@click.option("--duplicate-distance", default=0.3, show_default=True,
              help="a face this close to an enrolled (or earlier) one is a duplicate (unit embeddings)")
@click.pass_obj
def import_faces(server, root, layout, compreface_url, compreface_key, dry_run, min_face_px, min_score,
                 duplicate_distance):
    """Import a face library: Frigate's, Double Take's, folders of person folders, or CompreFace's."""
    if (root is None) == (compreface_url is None):
        raise click.UsageError("give ROOT or --compreface-url (one of them)")
    images = list(compreface_images(compreface_url, compreface_key or "") if compreface_url
                  else folder_images(root, layout))
    status, body = server.call("GET", "/people")
    if status != 200:
        raise click.ClickException(error_text(body))
    ids = {p["name"]: p["person_id"] for p in body["people"]}
    known: list[np.ndarray] = []
    tally, model = Tally(), None
    with click.progressbar(images, label="checking" if dry_run else "importing", file=sys.stderr) as bar:
        for label, person, data in bar:
            status, body = server.call("POST", "/embed", files={"image": (Path(label).name, data)})
            if status != 200:
                tally.refused.append((label, person, error_text(body)))
                continue
            if model is None:
                model = body["model"]
                gallery = enrolled_embeddings(server, model)
                known = [gallery] if gallery is not None else []
            largest = max(body["faces"], key=lambda f: (f["box"]["x2"] - f["box"]["x1"])
                          * (f["box"]["y2"] - f["box"]["y1"]), default=None)
            why = refusal(largest, min_face_px, min_score)
            vector = np.asarray(largest["embedding"], np.float32) if largest else None
            if why is None and vector is not None and nearest(known, vector) <= duplicate_distance:
                why = "duplicate of an enrolled face"
            if why is None and not dry_run:
                fields = {"person_id": ids[person]} if person in ids else {"name": person}
                status, reply = server.call("POST", "/enroll", files={"image": (Path(label).name, data)}, data=fields)
                if status in (200, 201):
                    ids[person] = reply["person_id"]
                else:
                    why = error_text(reply)
            if why:
                tally.refused.append((label, person, why))
            else:
                tally.accepted.append((label, person))
                if vector is not None:
                    known.append(vector[None, :])
    report(tally, dry_run)


def report(tally: Tally, dry_run: bool) -> None:
    people = len({p for _, p in tally.accepted})
    verb = "would be enrolled" if dry_run else "enrolled"
    click.echo(f"{len(tally.accepted) + len(tally.refused)} images: {len(tally.accepted)} {verb} for {people} "
               f"people, {len(tally.refused)} refused")
    reasons: dict[str, int] = {}
    for _, _, why in tally.refused:
        key = why.split(" (")[0]
        reasons[key] = reasons.get(key, 0) + 1
    for why, n in sorted(reasons.items()):
        click.echo(f"  {why}: {n}")
    for label, person, why in tally.refused:
        click.echo(f"  refused {label} ({person}): {why}")
