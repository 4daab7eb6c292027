"""Command line for operators: talks to a running server over HTTP, local or remote.

    python -m app.cli [--url http://host:5000] [--api-key KEY] COMMAND ...

    enroll-dir DIR        one subfolder per person (or files named person_01.jpg ...)
    recognize-dir DIR     every image: faces, names, time; --out results.json, --txt results.txt
    export FILE           the whole gallery (people, names, embeddings, face crops, model id) as JSON
    import FILE           a file from export; refused when the gallery is of another model
    reembed               every enrolled face embedded again with the server's model (after a
                          change of EMBEDDER or FACE_CROP); resumes an interrupted run
    evaluate DIR          accuracy on labelled photos (train/ and val/, or person folders)
    camera SOURCE         a camera node: frames from SOURCE to /recognize (app/camera_node.py)
"""
import json
import re
import statistics
import sys
import time
from pathlib import Path

import click
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

    def call(self, method, path, **kwargs):
        """(status, JSON body); the server's error message is in body["error"]["message"]."""
        try:
            response = self.session.request(method, self.url + path, timeout=self.timeout_s, **kwargs)
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
    """Write the whole gallery to FILE."""
    status, body = server.call("GET", "/gallery/export")
    if status != 200:
        raise click.ClickException(error_text(body))
    file.write_text(json.dumps(body) + "\n")
    faces = sum(len(p["faces"]) for p in body["people"])
    click.echo(f"exported {len(body['people'])} people, {faces} faces (model {body['model']}) to {file}")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-bytes", default=4_000_000, show_default=True, help="request size to stay under")
@click.pass_obj
def import_(server, file, batch_bytes):
    """Add the gallery in FILE (from export) to the server's."""
    try:
        gallery = json.loads(file.read_text())
        people, model = gallery["people"], gallery["model"]
    except (ValueError, KeyError, TypeError):
        raise click.ClickException(f"{file} is not a gallery file written by `export`") from None
    batches, batch, size = [], [], 0
    for person in people:  # a few MB per request keeps under the server's MAX_CONTENT_LENGTH
        weight = len(json.dumps(person))
        if batch and size + weight > batch_bytes:
            batches.append(batch)
            batch, size = [], 0
        batch.append(person)
        size += weight
    batches += [batch] if batch or not batches else []  # even an empty gallery: the server checks the model
    created = added = 0
    for part in batches:
        status, body = server.call("POST", "/gallery/import",
                                   json={"format": gallery.get("format", "facerec-gallery/1"), "model": model,
                                         "people": part})
        if status != 200:
            raise click.ClickException(f"import refused: {error_text(body)}")
        created, added = created + body["people_created"], added + body["faces_added"]
        for line in body["skipped"]:
            click.echo(f"  skipped {line}")
    click.echo(f"imported {created} new people, {added} faces")


@cli.command("reembed")
@click.option("--poll", default=1.0, show_default=True, help="seconds between progress reads")
@click.pass_obj
def reembed(server, poll):
    """Re-embed every enrolled face with the server's model, and wait until it is done."""
    status, body = server.call("POST", "/gallery/reembed")
    if status not in (200, 202):
        raise click.ClickException(error_text(body))
    gallery = body["gallery"] or {}
    if body["status"] != "running" and gallery.get("model") in (None, body["worker_model"]) \
            and gallery.get("state", "ready") == "ready":
        click.echo(f"nothing to do: the gallery's embeddings are the server's model ({body['worker_model']})")
        return
    click.echo(f"re-embedding {body['people_total']} people to {body['worker_model']}")
    with click.progressbar(length=max(body["people_total"], 1), label="re-embedding", file=sys.stderr) as bar:
        done = 0
        while body["status"] == "running":
            time.sleep(poll)
            status, body = server.call("GET", "/gallery/reembed")
            if status != 200:
                raise click.ClickException(error_text(body))
            bar.update(max(0, min(body["people_done"], bar.length) - done))
            done = min(body["people_done"], bar.length)
    click.echo(f"{body['faces_done']} faces of {body['people_done']} people re-embedded "
               f"({body['from_thumbnails']} from their thumbnail, no crop having been kept)")
    for face in body["not_reembedded"]:
        click.echo(f"  removed face {face['face_id']} of person {face['person_id']}: {face['reason']}")
    if body["status"] != "done":
        raise click.ClickException(f"re-embedding {body['status']}: {body.get('error') or ''} "
                                   f"(run `reembed` again to resume)")


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


@cli.command("camera")
@click.argument("source")
@click.option("--camera-id", required=True, help="the camera's name in events, MQTT and the page")
@click.option("--fps", default=2.0, show_default=True, type=click.FloatRange(0.1, 30),
              help="frames sent per second, at most")
@click.option("--motion", is_flag=True, help="send a frame only when something moved")
@click.option("--motion-threshold", default=0.01, show_default=True, type=click.FloatRange(0, 1),
              help="share of the pixels that must change")
@click.option("--snapshot/--stream", default=None, help="SOURCE is a snapshot URL to poll (default: from its "
                                                         "Content-Type) / a stream")
@click.option("--jpeg-quality", default=85, show_default=True, type=click.IntRange(10, 100))
@click.option("--max-width", default=1280, show_default=True, help="scale wider frames down before sending (0: never)")
@click.option("--timeout", default=10.0, show_default=True, help="seconds for one request to the server or camera")
@click.option("--verbose", is_flag=True, help="print frames without a face too")
@click.pass_obj
def camera(server, source, camera_id, fps, motion, motion_threshold, snapshot, jpeg_quality, max_width, timeout,
           verbose):
    """Send frames of SOURCE (RTSP/HTTP stream, USB device index, video file, snapshot URL) to /recognize."""
    from app.camera_node import CameraNode, NodeConfig
    config = NodeConfig(source, camera_id, server.url, server.session.headers.get("X-API-Key"), fps, motion,
                        motion_threshold, snapshot, jpeg_quality, max_width, timeout, verbose)
    counts = CameraNode(config, say=lambda line: click.echo(line)).run()
    names = ", ".join(f"{name} x{n}" for name, n in sorted(counts.names.items())) or "nobody known"
    click.echo(f"{camera_id}: {counts.read} frames read, {counts.sent} sent, {counts.still} without motion, "
               f"{max(0, counts.read - counts.sent - counts.still)} skipped, {counts.errors} server errors; "
               f"{counts.faces} with faces: {names}")


if __name__ == "__main__":
    cli()
