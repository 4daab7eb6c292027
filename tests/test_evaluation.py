"""The evaluation on the 5-celebrity photos meets the accuracy the project promises."""
import shutil

import pytest

from app.evaluation import equal_error_rate, evaluate, labelled_photos
from scripts.evaluate import local_embedder


@pytest.fixture(scope="module")
def report(local_pipeline, celebrities):
    return evaluate(local_embedder(local_pipeline, ["box+10%"]), celebrities, ["box+10%"], threshold=1.10,
                    preprocessor="mtcnn")


def test_rank1_and_eer(report):
    m = report["crops"]["box+10%"]
    assert (m["rank1"], m["probes"]) == (25, 25)
    assert m["eer"] <= 0.03
    assert m["same_distance"]["mean"] + 0.3 < m["different_distance"]["mean"]


def test_the_default_threshold_accepts_no_stranger(report):
    m = report["crops"]["box+10%"]
    assert m["far_at_threshold"] == 0.0
    assert m["frr_at_threshold"] < 0.2
    assert m["open_set_unknown_rate"] >= 0.9


def test_equal_error_rate():
    eer, threshold = equal_error_rate([0.1, 0.2, 0.3, 0.9], [0.8, 1.0, 1.1, 1.2])
    assert eer == 0.25 and threshold in (0.8, 0.9)
    assert equal_error_rate([0.1, 0.2], [0.8, 0.9])[0] == 0.0


def test_a_flat_folder_is_split_per_person(celebrities, tmp_path):
    for person in ("madonna", "elton_john"):
        shutil.copytree(celebrities / "train" / person, tmp_path / person)
    splits = labelled_photos(tmp_path)
    for person in ("madonna", "elton_john"):
        train = [p for who, p in splits["train"] if who == person]
        val = [p for who, p in splits["val"] if who == person]
        assert len(val) >= 1 and len(train) >= len(val)
        assert not set(train) & set(val)
