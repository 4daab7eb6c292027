"""PREPROCESSOR=yunet+onet: the YuNet graph's proposals, with the boxes, landmarks and face
probabilities that the reference mtcnn==1.0.0 package's own O-Net stage computes on YuNet's
boxes mapped by RNET_PRIOR, then again on its own (squared) answer; the faces O-Net scores
under ONET_THRESHOLD dropped, as MTCNN's last stage drops them, unless YuNet is sure of them."""
import numpy as np
import pytest
import tensorflow as tf
from boxes import iou

from app.model_clients.local_model import LocalModel
from app.pipeline.detectors import MtcnnDetector, YunetDetector, YunetOnetDetector
from app.pipeline.imaging import decode_image
from samples.camera import Look, camera_frame
from samples.photos import photo
from serving_models.yunet_onet import ONET_PASSES, ONET_THRESHOLD, RNET_PRIOR, YUNET_SURE

PARAMS = {"score_threshold": np.float32(0.3), "nms_threshold": np.float32(0.3)}
MTCNN = {"min_size": np.float32(20), "factor": np.float32(0.709), "thresholds": np.array([0.6, 0.7, 0.8], np.float32)}


@pytest.fixture(scope="module")
def models(exported):
    return {name: LocalModel(name, exported) for name in ("yunet", "yunet_onet", "mtcnn")}


@pytest.fixture(scope="module")
def package_onet():
    from mtcnn.stages.stage_onet import StageONet
    return StageONet()._model


def prior_boxes(boxes):
    """RNET_PRIOR in NumPy: the square R-Net box for each YuNet box."""
    p = RNET_PRIOR
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2 + p["dx"] * w, (boxes[:, 1] + boxes[:, 3]) / 2 + p["dy"] * h
    half = (p["sw"] * w + p["sh"] * h) / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def reference_onet(onet, rgb, boxes):
    """The package's StageONet steps, ONET_PASSES times from the prior box: normalise, square,
    48x48 patches, O-Net, landmarks relative to the squared box, box regression; (boxes,
    landmarks, the last pass's face probabilities)."""
    from mtcnn.utils.bboxes import adjust_bboxes, resize_to_square
    from mtcnn.utils.images import extract_patches, normalize_images
    from mtcnn.utils.landmarks import adjust_landmarks

    images = normalize_images(tf.constant(rgb[None], tf.float32))
    boxes = prior_boxes(np.asarray(boxes, np.float64))
    for _ in range(ONET_PASSES):
        batch = resize_to_square(np.concatenate([np.zeros((len(boxes), 1)), boxes, np.ones((len(boxes), 1))], axis=1))
        offsets, marks, probs = onet(extract_patches(images, batch, expected_size=(48, 48)))
        landmarks = adjust_landmarks(marks, batch)
        boxes = adjust_bboxes(batch, offsets.numpy())[:, 1:5]
    return boxes, np.stack([landmarks[:, :5], landmarks[:, 5:]], axis=-1), probs.numpy()[:, 1]


def test_same_faces_as_yunet_with_onet_geometry(models, package_onet, celebrity_photos):
    checked = dropped = 0
    for rgb in celebrity_photos[:30]:
        yunet = models["yunet"].predict({"image": rgb, **PARAMS})
        refined = models["yunet_onet"].predict({"image": rgb, **PARAMS})
        if len(yunet["boxes"]) == 0:
            assert len(refined["boxes"]) == 0
            continue
        boxes, landmarks, probs = reference_onet(package_onet, rgb, yunet["boxes"])
        # YuNet proposes, O-Net decides unless YuNet is sure (on these photos no two kept faces
        # overlap: none merge); each kept face is matched to its reference by its box, whatever
        # the order of near-equal scores
        onet_sure = probs > ONET_THRESHOLD
        kept = np.flatnonzero(onet_sure | (yunet["scores"] >= YUNET_SURE))
        dropped += len(probs) - len(kept)
        assert len(refined["boxes"]) == len(kept)
        for box, marks, score in zip(refined["boxes"], refined["landmarks"], refined["scores"]):
            ref = kept[np.argmin(np.abs(boxes[kept] - box).max(axis=1))]
            np.testing.assert_allclose(box, boxes[ref], atol=0.05)
            np.testing.assert_allclose(marks, landmarks[ref], atol=0.05)
            # the score is O-Net's, as MTCNN reports it, not YuNet's (but where O-Net rejects)
            np.testing.assert_allclose(score, probs[ref] if onet_sure[ref] else yunet["scores"][ref], atol=1e-4)
        checked += len(kept)
    assert checked >= 25 and dropped >= 1


def test_a_face_yunet_is_sure_of_is_kept_where_onet_wavers(models, package_onet):
    """A face of the visits benchmark that MTCNN finds and YuNet scores >= YUNET_SURE, but on
    which O-Net's probability wavers under ONET_THRESHOLD (Elton John's first val photo, 60 px
    wide in a camera frame): kept, with O-Net's geometry and YuNet's score; O-Net alone dropped it."""
    rgb = photo("elton_john", 0)
    face = models["mtcnn"].predict({"image": rgb, **MTCNN})["boxes"][0]
    frame = decode_image(camera_frame(rgb, face, Look(face_px=60, quality=60)), 50_000_000)
    mtcnn = models["mtcnn"].predict({"image": frame, **MTCNN})
    yunet = models["yunet"].predict({"image": frame, **PARAMS})
    refined = models["yunet_onet"].predict({"image": frame, **PARAMS})
    assert len(mtcnn["boxes"]) == 1 and len(yunet["scores"]) == 1 and yunet["scores"][0] >= YUNET_SURE
    assert len(refined["boxes"]) == 1 and iou(refined["boxes"][0], mtcnn["boxes"][0]) > 0.5
    boxes, landmarks, probs = reference_onet(package_onet, frame, yunet["boxes"])
    assert probs[0] <= ONET_THRESHOLD
    np.testing.assert_allclose(refined["boxes"], boxes, atol=0.05)
    np.testing.assert_allclose(refined["landmarks"], landmarks, atol=0.05)
    np.testing.assert_allclose(refined["scores"], yunet["scores"], atol=1e-4)


def test_scores_on_mtcnns_scale(models, celebrity_photos):
    """The app reads scores on MTCNN's scale (a face's quality counts its score fully from 0.95;
    VISITOR_MIN_SCORE; the compatibility APIs' confidence): on these clear photos nine faces in
    ten reach 0.95 with MTCNN and with yunet+onet; YuNet's own scores almost never do."""
    share = {}
    for name in ("mtcnn", "yunet", "yunet_onet"):
        params = MTCNN if name == "mtcnn" else PARAMS
        scores = np.concatenate([models[name].predict({"image": rgb, **params})["scores"]
                                 for rgb in celebrity_photos[::4]])
        share[name] = float(np.mean(scores >= 0.95))
    assert share["mtcnn"] >= 0.85 and share["yunet_onet"] >= 0.85
    assert share["yunet"] < 0.2


def test_onet_judges_what_yunet_proposes(models, celebrity_photos):
    """With YuNet proposing down to a score of 0.05, O-Net's threshold keeps the faces: every
    face kept is scored at least ONET_THRESHOLD (or YuNet's YUNET_SURE), and no more faces are
    found than MTCNN finds, where YuNet alone at 0.05 answers with several times as many boxes."""
    low = {**PARAMS, "score_threshold": np.float32(0.05)}
    photos = celebrity_photos[::3]
    yunet = sum(len(models["yunet"].predict({"image": rgb, **low})["scores"]) for rgb in photos)
    mtcnn = sum(len(models["mtcnn"].predict({"image": rgb, **MTCNN})["scores"]) for rgb in photos)
    kept = [models["yunet_onet"].predict({"image": rgb, **low})["scores"] for rgb in photos]
    assert all(np.all(scores > ONET_THRESHOLD) for scores in kept)
    assert yunet > 2 * len(photos) and sum(len(k) for k in kept) <= mtcnn


def test_proposals_onet_moves_onto_one_face_are_merged(models, celebrity_photos):
    """With YuNet's NMS opened up (0.95), several proposals sit on each face; O-Net moves them
    onto the same face and the graph merges them as MTCNN's last stage does (over the smaller
    box): no two faces kept overlap past ONET_NMS, and about as many faces are found as with
    YuNet's own NMS at 0.3 (a proposal YuNet's NMS drops may be the one O-Net accepts)."""
    from serving_models.mtcnn_graph import ONET_NMS
    loose = {**PARAMS, "nms_threshold": np.float32(0.95)}
    photos = celebrity_photos[1::3]
    proposed = sum(len(models["yunet"].predict({"image": rgb, **loose})["scores"]) for rgb in photos)
    merged = [models["yunet_onet"].predict({"image": rgb, **loose})["boxes"] for rgb in photos]
    usual = sum(len(models["yunet_onet"].predict({"image": rgb, **PARAMS})["scores"]) for rgb in photos)
    assert proposed > 2 * usual
    for boxes in merged:
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert iou(boxes[i], boxes[j], over_smaller=True) <= ONET_NMS
    assert usual <= sum(len(b) for b in merged) <= usual + len(photos) // 10


def test_landmarks_nearer_mtcnn_than_yunets_are(models, celebrity_photos):
    """The point of the refinement: on photos where MTCNN and YuNet find one face each, the
    refined landmarks sit nearer MTCNN's than YuNet's own do (distances over the box size)."""
    detectors = {"mtcnn": MtcnnDetector(models["mtcnn"]), "yunet": YunetDetector(models["yunet"]),
                 "yunet+onet": YunetOnetDetector(models["yunet_onet"])}
    errors = {"yunet": [], "yunet+onet": []}
    for rgb in celebrity_photos[::3]:
        found = {name: d.detect(rgb) for name, d in detectors.items()}
        if any(len(f) != 1 for f in found.values()):
            continue
        size = found["mtcnn"].boxes[0, 2] - found["mtcnn"].boxes[0, 0]
        for name in errors:
            apart = np.linalg.norm(found[name].landmarks[0] - found["mtcnn"].landmarks[0], axis=1)
            errors[name].append(apart.mean() / size)
    assert len(errors["yunet"]) >= 20
    assert np.median(errors["yunet+onet"]) < 0.5 * np.median(errors["yunet"])


def test_no_face_and_tiny_frames(models):
    for rgb in (np.zeros((1, 1, 3), np.uint8), np.zeros((16, 16, 3), np.uint8), np.full((240, 320, 3), 90, np.uint8)):
        out = YunetOnetDetector(models["yunet_onet"]).detect(rgb)
        assert len(out) == 0 and out.boxes.shape == (0, 4) and out.landmarks.shape == (0, 5, 2)


def test_rnet_prior_is_what_fit_onet_prior_fits_on_the_train_photos(exported, celebrities):
    """RNET_PRIOR keeps the command that fits it. sw and sh trade against each other (YuNet's
    width and height are nearly collinear), so the side is compared at YuNet's usual aspect."""
    from scripts.fit_onet_prior import fit, pairs
    fitted = fit(pairs(celebrities, exported))
    assert fitted["faces"] >= 90
    assert abs(fitted["dx"] - RNET_PRIOR["dx"]) < 0.002 and abs(fitted["dy"] - RNET_PRIOR["dy"]) < 0.002
    side = fitted["sw"] * 0.76 + fitted["sh"]
    assert abs(side - (RNET_PRIOR["sw"] * 0.76 + RNET_PRIOR["sh"])) < 0.01
