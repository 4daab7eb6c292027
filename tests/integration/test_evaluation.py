"""The evaluation on the 5-celebrity photos meets the accuracy the project promises; the AT&T
faces (--dataset orl) are laid out for it and recognized."""
import shutil

import pytest

from app.evaluation import evaluate, labelled_photos
from config import load_settings
from config.settings import DEFAULT_MATCH_THRESHOLDS
from scripts.evaluate import embedder_variants, local_embedder

EMBEDDERS = ("facenet", "sface", "facenet+sface", "dlib+sface")


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


def test_the_fused_pair_beats_each_network_alone(report):
    """facenet+sface beats either of its networks alone on EER and on false rejects at zero
    false accepts (dlib+sface against the default: test_dlib_sface.py)."""
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


def test_shifted_photos_are_the_photo_with_edge_rows_and_columns_added(local_pipeline, celebrities):
    """--shifts: the photo detected and embedded gains `shift` rows and columns of its own edge
    pixels on the top and left; the rest is the photo itself."""
    import numpy as np

    from scripts.evaluate import SHIFTS
    photo = labelled_photos(celebrities)["val"][0][1]
    seen = []

    class Recorder:   # in place of the embedder: records the image it is given
        name, model_id, dim = "recorder", "recorder", 4

        def embed(self, rgb, boxes, landmarks):
            seen.append(rgb)
            return boxes.astype(np.float32)
    top, left = SHIFTS[-1]
    for shift in ((0, 0), (top, left)):
        assert local_embedder(local_pipeline, {"recorder": Recorder()}, shift=shift)(photo) is not None
    unmoved, moved = seen
    assert moved.shape == (unmoved.shape[0] + top, unmoved.shape[1] + left, 3)
    np.testing.assert_array_equal(moved[top:, left:], unmoved)
    np.testing.assert_array_equal(moved[:top, left:], np.broadcast_to(unmoved[:1], (top, *unmoved.shape[1:])))


def test_spread_of_shifted_reports():
    from scripts.evaluate import spread
    out = spread([{"eer": 0.012, "frr_at_zero_fa": 0.062}, {"eer": 0.02, "frr_at_zero_fa": 0.1},
                  {"eer": 0.014, "frr_at_zero_fa": 0.08}])
    assert out["eer"] == {"median": 0.014, "min": 0.012, "max": 0.02, "values": [0.012, 0.02, 0.014]}
    assert out["frr_at_zero_fa"]["median"] == 0.08


@pytest.fixture(scope="module")
def orl():
    from scripts.evaluate import orl_photos
    return orl_photos()


def test_the_att_faces_are_40_people_of_10_rgb_photos_on_a_grey_margin(orl):
    import cv2
    import numpy as np

    from scripts.pypi_assets import orl_faces
    splits = labelled_photos(orl)
    assert len({person for person, _ in splits["train"]}) == 40
    assert (len(splits["train"]), len(splits["val"])) == (320, 80)
    assert {path.name for _, path in splits["val"]} == {"09.png", "10.png"}
    grey = cv2.imread(str(orl_faces() / "s7" / "3.pgm"), cv2.IMREAD_GRAYSCALE)
    framed = cv2.cvtColor(cv2.imread(str(orl / "s7" / "03.png")), cv2.COLOR_BGR2RGB)
    assert grey.shape == (112, 92) and framed.shape == (224, 184, 3)
    for channel in range(3):
        np.testing.assert_array_equal(framed[56:168, 46:138, channel], grey)
    framed[56:168, 46:138] = 128
    assert (framed == 128).all()


@pytest.fixture(scope="module")
def orl_default(local_pipeline, orl):
    name = local_pipeline.embedder.name
    return evaluate(local_embedder(local_pipeline), orl, [name], DEFAULT_MATCH_THRESHOLDS[name], "mtcnn")


def test_the_default_pipeline_on_the_att_faces(orl_default):
    """Greyscale photos of 40 people (1800 same-person pairs): every face found, every probe
    named, same and different people far apart."""
    m = orl_default["variants"]["facenet+sface"]
    assert orl_default["no_face"] == [] and (m["rank1"], m["probes"]) == (80, 80)
    assert m["same_distance"]["pairs"] == 1800 and m["eer"] < 0.005


def test_dlib_sface_lets_in_no_more_strangers_on_the_att_faces(exported, orl, orl_default):
    """Why dlib+sface's MATCH_THRESHOLD is 1.09 and not its celebrity rule's 1.14 (config/settings.py):
    at 1.09, with YuNet + O-Net, it accepts no more different-person pairs of these 40 people than
    the default does at 1.11, and 1.14 would accept several times as many."""
    from app.pipeline import build_pipeline
    settings = load_settings(model_backend="local", model_dir=exported, preprocessor="yunet+onet",
                             embedder="dlib+sface")
    pipeline = build_pipeline(settings)
    variants = {"dlib+sface": pipeline.embedder, "at 1.14": pipeline.embedder}   # the same vectors, two thresholds
    report = evaluate(local_embedder(pipeline, variants), orl, list(variants),
                      {"dlib+sface": settings.match_threshold, "at 1.14": 1.14}, "yunet+onet")
    ours, default = report["variants"]["dlib+sface"], orl_default["variants"]["facenet+sface"]
    assert settings.match_threshold == 1.09 and (ours["rank1"], ours["probes"]) == (80, 80)
    assert ours["far_at_threshold"] <= default["far_at_threshold"] and ours["frr_at_threshold"] <= 0.01
    assert ours["eer"] < 0.005 and ours["frr_at_zero_fa"] <= default["frr_at_zero_fa"]
    assert report["variants"]["at 1.14"]["far_at_threshold"] > 2 * default["far_at_threshold"]
