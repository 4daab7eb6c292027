"""The whole gallery: export it to a file, import a file, re-embed it with the server's model."""
import codecs
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import BinaryIO

import click
import ijson

from app.cli.base import cli, error_text, replacing


@cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def export(server, file):
    """Write the whole gallery to FILE (streamed: any size)."""
    with replacing(file) as part:
        status, body = server.call("GET", "/gallery/export", into=part)
        if status != 200:
            raise click.ClickException(error_text(body))
        try:
            people, faces, model = gallery_counts(part)   # read whole before it replaces FILE
        except (ValueError, ijson.JSONError):
            raise click.ClickException(f"the export from {server.url} ended before the gallery did; "
                                       f"{file} was left as it was") from None
    click.echo(f"exported {people} people, {faces} faces (model {model}) to {file}")


def opened(file: Path) -> BinaryIO:
    """FILE opened for reading as JSON, past a UTF-8 byte order mark (editors on Windows start a
    file with one, which the server skips too)."""
    f = file.open("rb")
    if f.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
        f.seek(0)
    return f


def gallery_counts(file: Path) -> tuple[int, int, str]:
    """(people, faces, model) of a gallery file, read as a stream."""
    people = faces = 0
    model = ""
    with opened(file) as f:
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
@click.option("--batch-bytes", default=0, show_default=True, type=click.IntRange(min=0),
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
        for line in reply.get("names_kept", []):   # an older server does not say
            click.echo(f"  kept the name here: {line}")
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


def batched_bodies(file: Path, model: str, batch_bytes: int):
    """Request bodies of about `batch_bytes` each, for servers with a small MAX_IMPORT_BYTES."""
    batch: list[dict] = []
    size = 0
    with opened(file) as f:
        for person in ijson.items(f, "people.item", use_float=True):
            weight = len(json.dumps(person))
            if batch and size + weight > batch_bytes:
                yield json.dumps({"format": "facerec-gallery/1", "model": model, "people": batch}).encode()
                batch, size = [], 0
            batch.append(person)
            size += weight
    yield json.dumps({"format": "facerec-gallery/1", "model": model, "people": batch}).encode()
