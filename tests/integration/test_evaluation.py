"""The evaluation on the 5-celebrity photos meets the accuracy the project promises."""
import shutil

import pytest

from app.evaluation import evaluate, labelled_photos
from config import load_settings
from config.settings import DEFAULT_MATCH_THRESHOLDS
from scripts.evaluate import embedder_variants, local_embedder

EMBEDDERS = ("facenet", "sface", "facenet+sface")


@pytest.fixture(scope="module")
def report(local_pipeline, celebrities):
    """Every EMBEDDER on the same detections, each at its default MATCH_THRESHOLD."""
    embedders = embedder_variants(load_settings(model_backend="local"), EMBEDDERS, local_pipeline)
    thresholds = {name: DEFAULT_MATCH_THRESHOLDS[name] for name in EMBEDDERS}
    return evaluate(local_embedder(local_pipeline, embedders), celebrities, list(EMBEDDERS), thresholds, "mtcnn")


@pytest.mark.parametrize("embedder", EMBEDDERS)
def test_rank1_and_eer(report, embedder):
    m = report["variants"][embedder]
    assert (m["rank1"], m["probes"]) == (25, 25)
    assert m["eer"] <= 0.03
    assert m["same_distance"]["mean"] + 0.3 < m["different_distance"]["mean"]


@pytest.mark.parametrize("embedder", EMBEDDERS)
def test_the_default_threshold_accepts_no_stranger(report, embedder):
    m = report["variants"][embedder]
    assert m["far_at_threshold"] == 0.0 and m["threshold"] == DEFAULT_MATCH_THRESHOLDS[embedder]
    assert m["frr_at_threshold"] < 0.25
    assert m["open_set_unknown_rate"] >= 0.9


def test_the_fused_pair_is_the_most_accurate(report):
    """Why EMBEDDER defaults to facenet+sface: the lowest EER and the fewest false rejects at
    zero false accepts of the three."""
    fused, alone = report["variants"]["facenet+sface"], [report["variants"][e] for e in ("facenet", "sface")]
    assert all(fused["eer"] < m["eer"] for m in alone)
    assert all(fused["frr_at_zero_fa"] < m["frr_at_zero_fa"] for m in alone)


def test_a_flat_folder_is_split_per_person(celebrities, tmp_path):
    for person in ("madonna", "elton_john"):
        shutil.copytree(celebrities / "train" / person, tmp_path / person)
    splits = labelled_photos(tmp_path)
    for person in ("madonna", "elton_john"):
        train = [p for who, p in splits["train"] if who == person]
        val = [p for who, p in splits["val"] if who == person]
        assert len(val) >= 1 and len(train) >= len(val)
        assert not set(train) & set(val)
