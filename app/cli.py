"""Command line for operators: talks to a running server over HTTP, local or remote.

    python -m app.cli [--url http://host:5000] [--api-key KEY] COMMAND ...

    enroll-dir DIR        one subfolder per person (or files named person_01.jpg ...)
    recognize-dir DIR     every image: faces, names, time; --out results.json, --txt results.txt
    export FILE           the whole gallery (people, names, embeddings, model id) as JSON
    import FILE           a file from export; refused when made by another model
    evaluate DIR          accuracy on labelled photos (train/ and val/, or person folders)
"""
import contextlib
import json
import re
import statistics
import sys
import time
from pathlib import Path

import click
import ijson
import numpy as np
import requests

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class Server:
    def __init__(self, url, api_key, timeout_s=60):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if api_key:
            self.session.headers["X-API-Key"] = api_key
        self.timeout_s = timeout_s

    def call(self, method, path, into: Path | None = None, **kwargs):
        """(status, JSON body); the server's error message is in body["error"]["message"].
        `into`: a successful answer is streamed into this file instead (body None)."""
        try:
            response = self.session.request(method, self.url + path, timeout=self.timeout_s,
                                            stream=into is not None, **kwargs)
            if into is not None and response.status_code == 200:
                with into.open("wb") as f:
                    for piece in response.iter_content(1 << 20):
                        f.write(piece)
                return 200, None
        except requests.RequestException as e:
            raise click.ClickException(f"cannot reach {self.url}: {e}") from None
        try:
            body = response.json()
        except ValueError:
            body = {"error": {"code": "not_json", "message": response.text[:200]}}
        if response.status_code == 401:
            raise click.ClickException(f"{self.url} wants a valid API key: {body['error']['message']} (--api-key)")
        return response.status_code, body


def error_text(body):
    return body.get("error", {}).get("message", str(body))


def files_in(folder):
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith("."))


def person_of(path, root):
    """A subfolder names the person; a file directly in DIR is named by its stem (ada_02 -> ada)."""
    relative = path.relative_to(root)
    if len(relative.parts) > 1:
        return relative.parts[0]
    return re.sub(r"[_\-\s]*\d+$", "", path.stem) or path.stem


@click.group(help=__doc__)
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, envvar="FACEREC_URL")
@click.option("--api-key", default=None, envvar="FACEREC_API_KEY", help="sent as X-API-Key")
@click.pass_context
def cli(ctx, url, api_key):
    ctx.obj = Server(url, api_key)


@cli.command("enroll-dir")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_obj
def enroll_dir(server, folder):
    """Enroll every person of FOLDER (the largest face of each image)."""
    status, body = server.call("GET", "/people")
    if status != 200:
        raise click.ClickException(error_text(body))
    ids = {p["name"]: p["person_id"] for p in body["people"]}
    added, skipped = 0, []
    files = files_in(folder)
    with click.progressbar(files, label="enrolling", file=sys.stderr) as bar:
        for path in bar:
            name = person_of(path, folder)
            fields = {"person_id": ids[name]} if name in ids else {"name": name}
            with path.open("rb") as f:
                status, body = server.call("POST", "/enroll", files={"image": (path.name, f)}, data=fields)
            if status in (200, 201):
                ids[name] = body["person_id"]
                added += len(body["faces"])
            else:
                skipped.append((path, error_text(body)))
    click.echo(f"{added} faces added for {len({person_of(p, folder) for p in files})} people; "
               f"{len(skipped)} images skipped")
    for path, why in skipped:
        click.echo(f"  skipped {path.relative_to(folder)}: {why}")


@cli.command("recognize-dir")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="results as JSON")
@click.option("--txt", type=click.Path(dir_okay=False, path_type=Path), help="per-image times, one line each")
@click.option("--camera-id", default="cli", show_default=True)
@click.pass_obj
def recognize_dir(server, folder, out, txt, camera_id):
    """Recognize every image of FOLDER: faces, names and time per image."""
    results, times = [], []
    for path in files_in(folder):
        start = time.perf_counter()
        with path.open("rb") as f:
            status, body = server.call("POST", "/recognize", files={"image": (path.name, f)},
                                       data={"camera_id": camera_id})
        ms = (time.perf_counter() - start) * 1000.0
        name = str(path.relative_to(folder))
        if status != 200:
            results.append({"image": name, "error": error_text(body), "status": status})
            click.echo(f"{name}: error {status}: {error_text(body)}")
            continue
        times.append(ms)
        faces = [{"name": f["match"]["name"] if f["match"] else None,
                  "person_id": f["match"]["person_id"] if f["match"] else None,
                  "distance": f["candidates"][0]["distance"] if f["candidates"] else None,
                  "box": f["box"]} for f in body["faces"]]
        results.append({"image": name, "faces": faces, "time_ms": round(ms, 1),
                        "server_ms": body["timing_ms"]["total"]})
        names = ", ".join(f["name"] or "unknown" for f in faces) or "no face"
        click.echo(f"{name}: {len(faces)} faces: {names} ({ms:.0f} ms)")
    summary = {"images": len(results), "recognized": len(times), "errors": len(results) - len(times)}
    if times:
        summary.update({"mean_ms": round(statistics.fmean(times), 1), "p50_ms": round(float(np.percentile(times, 50)), 1),
                        "p95_ms": round(float(np.percentile(times, 95)), 1)})
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))
    if out:
        out.write_text(json.dumps({"summary": summary, "results": results}, indent=2) + "\n")
    if txt:
        lines = [f"{r['image']}\t{r['time_ms'] if 'time_ms' in r else 'error'}\t"
                 + (", ".join(f["name"] or "unknown" for f in r["faces"]) if "faces" in r else r["error"])
                 for r in results]
        txt.write_text("image\ttime_ms\tfaces\n" + "\n".join(lines) + "\n")


@cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def export(server, file):
    """Write the whole gallery to FILE (streamed: any size)."""
    status, body = server.call("GET", "/gallery/export", into=file)
    if status != 200:
        raise click.ClickException(error_text(body))
    people, faces, model = gallery_counts(file)
    click.echo(f"exported {people} people, {faces} faces (model {model}) to {file}")


def gallery_counts(file: Path) -> tuple[int, int, str]:
    """(people, faces, model) of a gallery file, read as a stream."""
    people = faces = 0
    model = ""
    with file.open("rb") as f:
        for prefix, event, value in ijson.parse(f):
            if prefix == "model" and event == "string":
                model = value
            elif prefix == "people.item" and event == "start_map":
                people += 1
            elif prefix == "people.item.faces.item" and event == "start_map":
                faces += 1
    return people, faces, model


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-bytes", default=0, show_default=True,
              help="split into requests of about this size (0: the whole file in one streamed request, "
                   "checked whole before anything is written)")
@click.pass_obj
def import_(server, file, batch_bytes):
    """Add the gallery in FILE (from export) to the server's."""
    try:
        people, faces, model = gallery_counts(file)
    except (ValueError, ijson.JSONError):
        raise click.ClickException(f"{file} is not a gallery file written by `export`") from None
    bodies = batched_bodies(file, model, batch_bytes) if batch_bytes else [file]
    created = added = 0
    for body in bodies:
        with (body.open("rb") if isinstance(body, Path) else contextlib.nullcontext(body)) as data:
            status, reply = server.call("POST", "/gallery/import", data=data,
                                        headers={"Content-Type": "application/json"})
        if status != 200:
            raise click.ClickException(f"import refused: {error_text(reply)}")
        created, added = created + reply["people_created"], added + reply["faces_added"]
        for line in reply["skipped"]:
            click.echo(f"  skipped {line}")
    click.echo(f"imported {created} new people, {added} faces")


def batched_bodies(file: Path, model: str, batch_bytes: int):
    """Request bodies of about `batch_bytes` each, for servers with a small MAX_IMPORT_BYTES."""
    batch, size = [], 0
    with file.open("rb") as f:
        for person in ijson.items(f, "people.item", use_float=True):
            weight = len(json.dumps(person))
            if batch and size + weight > batch_bytes:
                yield json.dumps({"format": "facerec-gallery/1", "model": model, "people": batch}).encode()
                batch, size = [], 0
            batch.append(person)
            size += weight
    yield json.dumps({"format": "facerec-gallery/1", "model": model, "people": batch}).encode()


@cli.command("evaluate")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--threshold", default=1.10, show_default=True, help="the server's MATCH_THRESHOLD")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="report as JSON")
@click.pass_obj
def evaluate_cmd(server, folder, threshold, out):
    """Accuracy on labelled photos, with the server's detector and embeddings."""
    from app.evaluation import evaluate, print_report
    model = {}

    def embed(path):
        with path.open("rb") as f:
            status, body = server.call("POST", "/embed", files={"image": (path.name, f)})
        if status != 200 or not body["faces"]:
            return None
        model["id"] = body["model"]
        largest = max(body["faces"], key=lambda f: (f["box"]["x2"] - f["box"]["x1"]) * (f["box"]["y2"] - f["box"]["y1"]))
        return {"server": np.asarray(largest["embedding"], np.float32)}

    report = evaluate(embed, folder, ["server"], threshold, preprocessor=f"server at {server.url}")
    report["model"] = model.get("id")
    print_report(report)
    if out:
        out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    cli()
