"""FaceNet, SFace and their fusion on the 5-celebrity set, scored with app/evaluation.py.

Every photo's largest face: FaceNet on the MTCNN box + 10% (the app's crop); SFace on the
face aligned from MTCNN's landmarks (same detection, so only the embedder differs) and from
YuNet's landmarks (the YuNet + SFace pipeline). Fusion: each network's squared distance
divided by its spread among different-person train pairs (z-scaling; the shift changes no
ranking), then a weighted sum; as unit embeddings scaled by sqrt(weight / spread) and
concatenated, so app.evaluation.metrics scores it unchanged and a gallery could store it.
The weight is chosen on train pairs only (fewest false rejects at zero false accepts, then
lowest EER) and reported on all pairs as the single networks are.
"""
import numpy as np

from app.evaluation import equal_error_rate, labelled_photos, metrics, pair_distances, zero_false_accepts
from app.pipeline.alignment import aligned_faces
from app.pipeline.imaging import crop_faces, decode_image
from config import FaceCrop

WEIGHTS = [round(w, 2) for w in np.linspace(0.0, 1.0, 11)]
# OpenCV Zoo's SFace demo: cosine 0.363, i.e. 1.128 between unit vectors.
THRESHOLDS = {"facenet": 1.10, "sface": 1.128}


def largest(found: dict) -> tuple | None:
    boxes = found["boxes"].reshape(-1, 4)
    if not len(boxes):
        return None
    i = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    return boxes[i], found["landmarks"].reshape(-1, 5, 2)[i]


def embed_set(photos: dict, mtcnn, yunet, facenet, sface) -> dict:
    """{split: {"labels": [...], "facenet", "sface_mtcnn": [N,128]}} plus YuNet's own subset."""
    out = {}
    for split, items in photos.items():
        rows = {"labels": [], "facenet": [], "sface_mtcnn": [], "yunet_labels": [], "sface_yunet": []}
        for person, path in items:
            rgb = decode_image(path.read_bytes(), 50_000_000)
            face = largest(mtcnn(rgb))
            if face is not None:
                rows["labels"].append(person)
                rows["facenet"].append(facenet(crop_faces(rgb, face[0][None], FaceCrop(0.1), 160))[0])
                rows["sface_mtcnn"].append(sface(aligned_faces(rgb, face[1][None]))[0])
            face = largest(yunet(rgb))
            if face is not None:
                rows["yunet_labels"].append(person)
                rows["sface_yunet"].append(sface(aligned_faces(rgb, face[1][None]))[0])
        out[split] = {k: (v if "labels" in k else np.asarray(v, np.float32).reshape(-1, 128)) for k, v in rows.items()}
    return out


def score(train_labels, train, val_labels, val, threshold: float, probes: int) -> dict:
    return metrics(list(train_labels), train, list(val_labels), val, threshold, probes)


def fused(a: np.ndarray, b: np.ndarray, weight: float, spread_a: float, spread_b: float) -> np.ndarray:
    return np.concatenate([a * np.sqrt(weight / spread_a), b * np.sqrt((1.0 - weight) / spread_b)], axis=1)


def evaluate_embedders(folder, mtcnn, yunet, facenet, sface) -> dict:
    photos = labelled_photos(folder)
    probes = len(photos["val"])
    data = embed_set(photos, mtcnn, yunet, facenet, sface)
    tr, va = data["train"], data["val"]
    rows = {
        "facenet (MTCNN box+10%)": score(tr["labels"], tr["facenet"], va["labels"], va["facenet"],
                                         THRESHOLDS["facenet"], probes),
        "sface (MTCNN landmarks)": score(tr["labels"], tr["sface_mtcnn"], va["labels"], va["sface_mtcnn"],
                                         THRESHOLDS["sface"], probes),
        "sface (YuNet landmarks)": score(tr["yunet_labels"], tr["sface_yunet"], va["yunet_labels"], va["sface_yunet"],
                                         THRESHOLDS["sface"], probes),
    }
    # Spread of squared distances between different people, train photos only.
    spreads = {k: float(np.std(pair_distances(tr[k], tr["labels"])[1] ** 2)) for k in ("facenet", "sface_mtcnn")}
    tried = []
    for w in WEIGHTS:
        train_vectors = fused(tr["facenet"], tr["sface_mtcnn"], w, spreads["facenet"], spreads["sface_mtcnn"])
        same, different = pair_distances(train_vectors, tr["labels"])
        threshold, frr = zero_false_accepts(same, different)
        tried.append({"facenet_weight": w, "train_frr_at_zero_fa": frr,
                      "train_eer": equal_error_rate(same, different)[0], "train_zero_fa_threshold": threshold})
    best = min(tried, key=lambda t: (t["train_frr_at_zero_fa"], t["train_eer"]))
    for t in tried:
        w = t["facenet_weight"]
        t["all_pairs"] = score(tr["labels"], fused(tr["facenet"], tr["sface_mtcnn"], w, *spreads.values()),
                               va["labels"], fused(va["facenet"], va["sface_mtcnn"], w, *spreads.values()),
                               t["train_zero_fa_threshold"], probes)
    rows[f"facenet+sface fused (w={best['facenet_weight']})"] = best["all_pairs"]
    return {"rows": rows, "fusion": {"spreads_of_squared_distance": spreads, "weights_tried": tried,
                                     "chosen_facenet_weight": best["facenet_weight"]},
            "faces_found": {"mtcnn": len(tr["labels"]) + len(va["labels"]),
                            "yunet": len(tr["yunet_labels"]) + len(va["yunet_labels"]),
                            "photos": len(photos["train"]) + probes}}
