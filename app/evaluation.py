"""Accuracy on a folder of labelled photos, whatever computes the embeddings: the in-process
pipeline (scripts/evaluate.py) or a running server over HTTP (python -m app.cli evaluate).

Layout: train/<person>/*.jpg and val/<person>/*.jpg, or just <person>/*.jpg (then the last
quarter of each person's photos, at least one, is the val split). Train photos are enrolled,
val photos probed, the largest face of each photo used. Reported per variant (an embedder, a
crop): rank-1 (a val photo without a face is a miss), all-pairs same/different distances, EER
and its threshold, false rejects at zero false accepts (the threshold just under the nearest
different-person pair), FAR/FRR at the match threshold and, leaving each person out of
enrollment in turn, the share of their photos reported unknown (open set).
"""
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
Photos = list[tuple[str, Path]]                           # (person, photo)
Embed = Callable[[Path], dict[str, np.ndarray] | None]   # {variant: embedding}, or None: no face


def labelled_photos(folder: str | Path) -> dict[str, Photos]:
    """{"train": [(person, path)], "val": [...]} from either layout."""
    folder = Path(folder)

    def people(root):
        return {p.name: sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
                for p in sorted(root.iterdir()) if p.is_dir()}

    if (folder / "train").is_dir() and (folder / "val").is_dir():
        return {split: [(person, f) for person, files in people(folder / split).items() for f in files]
                for split in ("train", "val")}
    splits: dict[str, list[tuple[str, Path]]] = {"train": [], "val": []}
    for person, files in people(folder).items():
        cut = len(files) - max(1, len(files) // 4)
        splits["train"] += [(person, f) for f in files[:cut]]
        splits["val"] += [(person, f) for f in files[cut:]]
    return splits


def embed_photos(embed: Embed, photos: Photos, crops: Sequence[str]
                 ) -> tuple[list[str], dict[str, np.ndarray], list[str], list[float]]:
    """Labels, {variant: [N,dim]}, photos without a face, seconds per photo.
    `embed(path)` gives {variant: embedding of the photo's largest face}, or None for no face."""
    labels: list[str] = []
    no_face: list[str] = []
    seconds: list[float] = []
    vectors: dict[str, list[np.ndarray]] = {c: [] for c in crops}
    for person, path in photos:
        start = time.perf_counter()
        found = embed(path)
        if found is None:
            no_face.append(str(path))
            continue
        for crop in crops:
            vectors[crop].append(found[crop])
        seconds.append(time.perf_counter() - start)
        labels.append(person)
    return labels, {c: np.asarray(v, np.float32).reshape(len(labels), -1) for c, v in vectors.items()}, no_face, seconds


def equal_error_rate(same: np.ndarray, different: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): where the false accept and false reject rates cross.

    Written here rather than read off scikit-learn's roc_curve: that one thresholds scores (higher
    is more alike) at its own points, this one distances at every distance seen, with no
    interpolation between them, which is what the docs' EER figures are."""
    candidates = np.unique(np.concatenate([same, different]))
    far = np.searchsorted(np.sort(different), candidates, side="right") / len(different)
    frr = 1.0 - np.searchsorted(np.sort(same), candidates, side="right") / len(same)
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2.0), float(candidates[i])


def zero_false_accepts(same: np.ndarray, different: np.ndarray) -> tuple[float, float]:
    """(threshold just under the nearest different-person pair, share of same pairs rejected there)."""
    threshold = float(np.nextafter(np.float32(np.min(different)), np.float32(0)))
    return threshold, float(np.mean(np.asarray(same) > threshold))


def distance_matrix(vectors: np.ndarray) -> np.ndarray:
    """[N,N] Euclidean distances between the rows of `vectors` (unit length or not)."""
    squared = (vectors ** 2).sum(axis=1)
    return np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * vectors @ vectors.T, 0.0))


def _same_and_different(d: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of the distance matrix `d` (each once), split by whether their labels match."""
    names = np.asarray(labels)
    upper = np.triu_indices(len(d), k=1)
    same = (names[:, None] == names[None, :])[upper]
    return d[upper][same], d[upper][~same]


def pair_distances(vectors: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(same-person, different-person) Euclidean distances over all pairs of `vectors`, as
    metrics() measures them (for fitting a fusion on train photos alone)."""
    return _same_and_different(distance_matrix(vectors), labels)


def metrics(train_labels: list[str], train: np.ndarray, val_labels: list[str], val: np.ndarray, threshold: float,
            val_photos: int) -> dict[str, Any]:
    """val_photos counts every val photo: one where no face was found is a rank-1 miss.
    Distances are plain Euclidean, so embeddings need not be unit vectors (dlib's are not)."""
    d = distance_matrix(np.concatenate([train, val]))
    n_train = len(train)
    probe_to_train = d[n_train:, :n_train]       # val rows against train columns
    train_array = np.asarray(train_labels)
    rank1 = int(sum(train_array[np.argmin(row)] == label for row, label in zip(probe_to_train, val_labels)))
    same, different = _same_and_different(d, train_labels + val_labels)
    eer, eer_threshold = equal_error_rate(same, different)
    zero_fa_threshold, frr_at_zero_fa = zero_false_accepts(same, different)
    unknown = []  # open set: each person left out of enrollment in turn
    for person in sorted(set(train_labels)):
        others = train_array != person
        unknown += [row[others].min() > threshold for row, label in zip(probe_to_train, val_labels) if label == person]
    return {
        "rank1": rank1, "probes": val_photos, "rank1_rate": rank1 / max(val_photos, 1),
        "same_distance": {"mean": float(same.mean()), "std": float(same.std()), "pairs": int(len(same))},
        "different_distance": {"mean": float(different.mean()), "std": float(different.std()),
                               "pairs": int(len(different))},
        "eer": eer, "eer_threshold": eer_threshold,
        "zero_fa_threshold": zero_fa_threshold, "frr_at_zero_fa": frr_at_zero_fa,
        "threshold": threshold,
        "far_at_threshold": float(np.mean(different <= threshold)),
        "frr_at_threshold": float(np.mean(same > threshold)),
        "open_set_unknown_rate": float(np.mean(unknown)),
    }


class NoPhotos(ValueError):
    """A folder without the labelled photos an evaluation needs (before anything is embedded)."""


def evaluate(embed: Embed, folder: str | Path, crops: Sequence[str], threshold: float | dict[str, float],
             preprocessor: str) -> dict[str, Any]:
    """The report for the photos in `folder`, embedded by `embed` (see embed_photos) as each of
    the variants `crops`; `threshold`: one match threshold, or {variant: threshold}."""
    thresholds = threshold if isinstance(threshold, dict) else {c: threshold for c in crops}
    photos = labelled_photos(folder)
    if not photos["train"] or not photos["val"]:
        raise NoPhotos(f"{folder} holds no train and val photos of people: train/<person>/*.jpg and "
                       f"val/<person>/*.jpg, or <person>/*.jpg")
    train_labels, train, train_missing, t1 = embed_photos(embed, photos["train"], crops)
    val_labels, val, val_missing, t2 = embed_photos(embed, photos["val"], crops)
    times = np.asarray(t1 + t2) * 1000.0
    return {
        "dataset": str(folder), "preprocessor": preprocessor, "people": len(set(train_labels)),
        "train_photos": len(photos["train"]), "val_photos": len(photos["val"]),
        "no_face": train_missing + val_missing,
        "ms_per_photo": {"mean": float(times.mean()), "p50": float(np.median(times))},
        "variants": {c: metrics(train_labels, train[c], val_labels, val[c], thresholds[c], len(photos["val"]))
                     for c in crops},
    }


def print_report(report: dict[str, Any]) -> None:
    print(f"{report['dataset']}: {report['people']} people, {report['train_photos']} train / "
          f"{report['val_photos']} val photos, preprocessor {report['preprocessor']}, "
          f"{report['ms_per_photo']['p50']:.0f} ms per photo (p50)")
    if report["no_face"]:
        print(f"no face found in {len(report['no_face'])} photos: {', '.join(report['no_face'])}")
    width = max(12, *(len(v) for v in report["variants"]))
    print(f"{'variant':<{width}} {'rank-1':>8} {'same d':>13} {'different d':>13} {'EER (thr)':>15} "
          f"{'FAR/FRR @thr':>15} {'open-set unknown':>17} {'FRR @0 FA (thr)':>16}")
    for crop, m in report["variants"].items():
        print(f"{crop:<{width}} {m['rank1']:>4}/{m['probes']:<3} "
              f"{m['same_distance']['mean']:>6.2f} ± {m['same_distance']['std']:.2f} "
              f"{m['different_distance']['mean']:>6.2f} ± {m['different_distance']['std']:.2f} "
              f"{m['eer']:>7.1%} ({m['eer_threshold']:.3f}) "
              f"{m['far_at_threshold']:>6.1%}/{m['frr_at_threshold']:<6.1%} @{m['threshold']:.2f} "
              f"{m['open_set_unknown_rate']:>8.0%}         {m['frr_at_zero_fa']:>6.1%} ({m['zero_fa_threshold']:.3f})")
