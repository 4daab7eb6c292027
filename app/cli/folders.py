"""Folders of photos: enroll them, recognize them, measure the server's accuracy on them."""
import json
import statistics
import sys
import time
from pathlib import Path

import click
import numpy as np

from app.cli.base import cli, error_text, files_in, person_of


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
    for option, file in (("--out", out), ("--txt", txt)):
        if file is not None and not file.parent.is_dir():   # said now, not after every image was sent
            raise click.BadParameter(f"{file.parent} is not a folder", param_hint=option)
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
    summary: dict[str, float] = {"images": len(results), "recognized": len(times), "errors": len(results) - len(times)}
    if times:
        summary.update({"mean_ms": round(statistics.fmean(times), 1),
                        "p50_ms": round(float(np.percentile(times, 50)), 1),
                        "p95_ms": round(float(np.percentile(times, 95)), 1)})
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))
    if out:
        out.write_text(json.dumps({"summary": summary, "results": results}, indent=2) + "\n")
    if txt:
        lines = [f"{r['image']}\t{r['time_ms'] if 'time_ms' in r else 'error'}\t"
                 + (", ".join(f["name"] or "unknown" for f in r["faces"]) if "faces" in r else r["error"])
                 for r in results]
        txt.write_text("image\ttime_ms\tfaces\n" + "\n".join(lines) + "\n")


@cli.command("evaluate")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--threshold", default=1.10, show_default=True, help="the server's MATCH_THRESHOLD")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="report as JSON")
@click.pass_obj
def evaluate_cmd(server, folder, threshold, out):
    """Accuracy on labelled photos, with the server's detector and embeddings."""
    from app.evaluation import NoPhotos, evaluate, print_report
    if out is not None and not out.parent.is_dir():
        raise click.BadParameter(f"{out.parent} is not a folder", param_hint="--out")
    model = {}

    def embed(path):
        with path.open("rb") as f:
            status, body = server.call("POST", "/embed", files={"image": (path.name, f)})
        if status != 200 or not body["faces"]:
            return None
        model["id"] = body["model"]
        largest = max(body["faces"], key=lambda f: (f["box"]["x2"] - f["box"]["x1"])
                      * (f["box"]["y2"] - f["box"]["y1"]))
        return {"server": np.asarray(largest["embedding"], np.float32)}

    try:
        report = evaluate(embed, folder, ["server"], threshold, preprocessor=f"server at {server.url}")
    except NoPhotos as e:
        raise click.BadParameter(str(e), param_hint="FOLDER") from None
    report["model"] = model.get("id")
    print_report(report)
    if out:
        out.write_text(json.dumps(report, indent=2) + "\n")
