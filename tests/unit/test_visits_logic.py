"""The visits' pure logic, without any service: which track a face continues, a visit's
identity from its frames (evidence, decision, hysteresis, corrections), what MQTT publishes."""
import json

import numpy as np

from app.gallery.search.matching import rank_people
from app.mqtt.visits import visit_messages
from app.visits.camera import TrackRules, after_frame
from app.visits.identity import Identity, Look, MeanMatch, VisitRules, accumulate, decided, weight, with_mean
from app.visits.tracks import Sighting, TrackState, assignment, iou, new_track

RULES = VisitRules(threshold=1.1)


def unit(seed, near=None, spread=0.3):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=128) if near is None else near + rng.normal(size=128) * spread / np.sqrt(128)
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_a_face_continues_the_track_it_overlaps_and_resembles():
    ada, bob = unit(1), unit(2)
    tracks = [new_track(Sighting((100, 100, 160, 160), ada, 0.9), now=0.0),
              new_track(Sighting((800, 100, 860, 160), bob, 0.9), now=0.0)]
    faces = [Sighting((810, 105, 875, 170), unit(3, bob), 0.9), Sighting((105, 102, 170, 167), unit(4, ada), 0.9)]
    assert assignment(faces, tracks, 0.5, 10.0, 1.3) == [1, 0]


def test_a_face_far_away_too_late_or_of_someone_else_opens_a_new_track():
    ada = unit(1)
    track = new_track(Sighting((100, 100, 160, 160), ada, 0.9), now=0.0)
    assert assignment([Sighting((1000, 600, 1060, 660), unit(5, ada), 0.9)], [track], 0.2, 10.0, 1.3) == [None]
    assert assignment([Sighting((100, 100, 160, 160), unit(5, ada), 0.9)], [track], 11.0, 10.0, 1.3) == [None]
    assert assignment([Sighting((100, 100, 160, 160), unit(9), 0.9)], [track], 0.2, 10.0, 1.3) == [None]


def test_a_person_walking_up_moves_plausibly():
    ada = unit(1)
    track = new_track(Sighting((630, 350, 650, 370), ada, 0.3), now=0.0)   # 20 px, then 40 px, shifted
    assert assignment([Sighting((640, 345, 680, 385), unit(6, ada), 0.6)], [track], 0.5, 10.0, 1.3) == [0]


def test_each_track_takes_one_face_of_a_frame_and_a_visit_key_names_its_track():
    ada = unit(1)
    track = new_track(Sighting((100, 100, 160, 160), ada, 0.9, visit_key="evt"), now=0.0)
    twins = [Sighting((100, 100, 160, 160), unit(7, ada), 0.9), Sighting((102, 100, 162, 160), unit(8, ada), 0.9)]
    assert assignment(twins, [track], 0.5, 10.0, 1.3) == [None, None]   # a keyed track takes only its key
    anywhere = Sighting((1000, 600, 1060, 660), unit(9), 0.9, visit_key="evt")
    assert assignment([anywhere], [track], 0.5, 10.0, 1.3) == [0]
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == 50 / 150


def test_evidence_is_weighted_by_quality_and_margin():
    assert weight(Look(1.0, "p", "P", 0.5), RULES) > weight(Look(1.0, "p", "P", 1.05), RULES)
    assert weight(Look(0.2, "p", "P", 0.5), RULES) < weight(Look(0.9, "p", "P", 0.5), RULES)
    assert weight(Look(0.9, usable=False), RULES) == 0


def evidence_of(looks):
    evidence, names, identity = {}, {}, Identity(None, None, False, 0.0)
    for look in looks:
        accumulate(evidence, names, look, RULES)
        identity = decided(evidence, names, identity, look.refused, RULES)
    return identity


def test_a_visit_is_decided_by_accumulated_evidence_not_one_poor_frame():
    assert not evidence_of([Look(0.3, "ada", "Ada", 1.05)]).decided   # one weak frame: undecided
    ada = evidence_of([Look(0.5, "ada", "Ada", 0.9), Look(0.8, "ada", "Ada", 0.8), Look(0.2, usable=False)])
    assert ada.decided and ada.name == "Ada" and ada.person_id == "ada"


def test_one_look_alike_frame_does_not_rename_a_decided_visit_but_a_correction_does():
    looks = [Look(0.8, "ada", "Ada", 0.8), Look(0.8, "ada", "Ada", 0.8), Look(1.0, "eve", "Eve", 0.6)]
    assert evidence_of(looks).name == "Ada"
    assert evidence_of(looks + [Look(1.0, "eve", "Eve", 0.6)] * 4).name == "Eve"   # many frames of Eve: Eve
    corrected = evidence_of(looks[:2] + [Look(0.9, distance=1.3, refused={"ada"})])
    assert not (corrected.decided and corrected.name == "Ada")


def test_a_near_miss_is_no_evidence_so_it_does_not_outvote_the_frames_that_matched():
    assert weight(Look(0.9, distance=1.15), RULES) == 0   # 0.05 over the threshold: neither Ada nor a stranger
    assert weight(Look(0.9, distance=1.25), RULES) > 0    # clearly over it: a stranger
    assert weight(Look(0.9, distance=1.1, refused={"ada"}), RULES) > 0   # a correction said so: a stranger
    # a small, blurred Ada: one clear match, then faces just over the threshold (nearest: Ada)
    ada = evidence_of([Look(0.9, distance=1.15), Look(1.0, "ada", "Ada", 0.88), Look(0.9, distance=1.15),
                       Look(0.9, distance=1.12), Look(0.5, distance=1.2)])
    assert ada.decided and ada.name == "Ada"
    # with near misses counted as strangers (VISIT_NEAR_MISS=0), the same frames stay undecided
    counted = VisitRules(threshold=1.1, near_miss=0.0)
    evidence, names = {}, {}
    for look in [Look(0.9, distance=1.15), Look(1.0, "ada", "Ada", 0.88), Look(0.9, distance=1.15),
                 Look(0.9, distance=1.12), Look(0.5, distance=1.2)]:
        accumulate(evidence, names, look, counted)
    assert not decided(evidence, names, Identity(None, None, False, 0.0), set(), counted).decided


def test_a_stranger_is_decided_unknown_after_enough_clear_frames():
    one = evidence_of([Look(0.9, distance=1.4)])
    assert not one.decided
    stranger = evidence_of([Look(0.9, distance=1.4), Look(0.9, distance=1.3)])
    assert stranger.decided and stranger.person_id is None and stranger.name is None


def test_after_frame_announces_decided_once_then_ended():
    rules, ada = TrackRules(gap_s=5.0), unit(1)
    tracks, news = [], []
    for i in range(4):
        outcome = after_frame(tracks, [Sighting((100, 100, 160, 160), unit(10 + i, ada), 0.9)],
                              [Look(0.9, "ada", "Ada", 0.7)], float(i), rules, RULES)
        tracks = [TrackState.from_json(json.loads(json.dumps(t.to_json()))) for t in outcome.open]
        news += outcome.news
    assert [e for e, _ in news] == ["decided"] and len(tracks) == 1 and tracks[0].frames == 4
    later = after_frame(tracks, [], [], 20.0, rules, RULES)
    assert later.open == [] and [t.id for t in later.ended] == [tracks[0].id]


def test_visit_messages():
    track = {"id": "t1", "person_id": "p1", "name": "Ada Lovelace", "confidence": 0.9, "decided": True, "frames": 3,
             "first_seen": 1.0e9, "last_seen": 1.0e9 + 2}
    topics = [m.topic for m in visit_messages("fr", "Front Door", "decided", track)]
    assert topics == ["fr/visits/front_door", "fr/last_visitor/front_door", "fr/presence/ada_lovelace",
                      "fr/presence/ada_lovelace/attributes"]
    assert [m.topic for m in visit_messages("fr", "Front Door", "ended", track)] == ["fr/visits/front_door"]


def test_a_track_of_a_silent_camera_ends_by_the_servers_clock_not_the_capture_times():
    from app.visits.camera import silent
    ada = unit(1)
    recent = new_track(Sighting((100, 100, 160, 160), ada, 0.9), now=0.0)     # captured long ago ...
    recent.seen_at = 1000.0                                                   # ... but received just now
    old = new_track(Sighting((500, 100, 560, 160), unit(2), 0.9), now=990.0)
    old.seen_at = 985.0
    keep, ended = silent([recent, old], now=1002.0, gap_s=10.0)
    assert keep == [recent] and ended == [old]
    assert silent([recent], now=1010.0, gap_s=10.0) == ([recent], [])       # exactly the gap: still open
    restored = TrackState.from_json(json.loads(json.dumps(recent.to_json())))
    assert restored.seen_at == 1000.0


def test_a_track_keeps_the_quality_weighted_mean_of_its_unknown_faces_worth_feeding_the_visitors():
    ada = unit(1)
    faces = [unit(20 + i, ada) for i in range(3)]
    rules, tracks = TrackRules(), []
    weights = [0.4, 0.0, 0.8]   # the second face feeds nothing (matched, or too poor)
    for i, (face, w) in enumerate(zip(faces, weights)):
        outcome = after_frame(tracks, [Sighting((100, 100, 160, 160), face, 0.9, stranger_weight=w)],
                              [Look(0.9)], 0.3 * i, rules, RULES)
        tracks = outcome.open
    track = tracks[0]
    expected = 0.4 * faces[0] + 0.8 * faces[2]
    assert track.frames == 3 and abs(track.stranger_weight - 1.2) < 1e-9
    assert np.allclose(track.stranger_vector(), expected / np.linalg.norm(expected), atol=1e-6)
    again = TrackState.from_json(json.loads(json.dumps(track.to_json())))   # as Redis keeps it (float16)
    assert again.stranger_weight == track.stranger_weight
    assert np.allclose(again.stranger_vector(), track.stranger_vector(), atol=2e-3)
    # a track stored before this field existed reads as one with no unknown face yet
    old = {k: v for k, v in track.to_json().items() if k not in ("stranger", "stranger_weight")}
    assert TrackState.from_json(old).stranger_vector() is None
    # and one written by a newer version, with fields this one does not know, still reads
    assert TrackState.from_json({**track.to_json(), "a_later_field": 1}).frames == 3


MEAN = VisitRules(threshold=1.1, mean_faces=3)   # the visit's mean face on (VISIT_MEAN_FACES 3)


def test_the_mean_face_names_a_visit_its_frames_left_undecided_or_unknown_never_one_they_named():
    mean, seen = MeanMatch("ada", "Ada", 1.0, 0.6), {"ada": 0.3, "": 2.0}   # a frame matched Ada
    undecided, unknown = Identity(None, None, False, 0.3), Identity(None, None, True, 0.9)
    eve = Identity("eve", "Eve", True, 0.8)
    assert with_mean(undecided, mean, 3, seen, set(), MEAN) == Identity("ada", "Ada", True, 0.6)
    assert with_mean(unknown, mean, 3, seen, set(), MEAN).name == "Ada"
    assert with_mean(eve, mean, 3, seen, set(), MEAN) == eve                  # the frames named someone: kept
    assert with_mean(undecided, mean, 2, seen, set(), MEAN) == undecided      # fewer than VISIT_MEAN_FACES faces
    assert with_mean(undecided, mean, 3, {"": 2.0}, set(), MEAN) == undecided   # no frame matched Ada
    assert with_mean(undecided, mean, 3, seen, {"ada"}, MEAN) == undecided    # a correction refuses Ada
    assert with_mean(undecided, None, 9, seen, set(), MEAN) == undecided      # the mean matches no one
    assert with_mean(undecided, mean, 9, seen, set(), RULES) == undecided     # VISIT_MEAN_FACES 0: off


def gallery_matcher(enrolled: dict[str, np.ndarray], threshold: float, calls: list):
    """A visit's mean face against a small gallery, by the matching rule (nearest within the threshold)."""
    labels = list(enrolled)
    matrix = np.stack([enrolled[k] for k in labels])

    def match(vector):
        calls.append(vector)
        label, distance, _ = rank_people(vector, matrix, labels, 1)[0]
        return MeanMatch(label, label.title(), distance, 0.5) if distance <= threshold else None
    return match


def walk(faces, looks, matcher, rules=MEAN):
    """One visit (one external visit key: one track however far apart its blurred faces are)."""
    tracks, seen = [], []
    for i, (face, look) in enumerate(zip(faces, looks)):
        sighting = Sighting((100, 100, 160, 160), face, look.quality, visit_key="v")
        outcome = after_frame(tracks, [sighting], [look], 0.3 * i, TrackRules(), rules, matcher)
        tracks = [TrackState.from_json(json.loads(json.dumps(t.to_json()))) for t in outcome.open]  # as Redis keeps it
        seen.append(outcome.faces[0])
    return seen


def test_a_visit_whose_frames_mostly_miss_is_named_by_their_mean_face_when_a_frame_agrees():
    ada = unit(1)
    blurred = [unit(40 + i, ada, spread=4.5) for i in range(6)]           # each blurred face far from Ada ...
    alone = [float(np.linalg.norm(f - ada)) for f in blurred]
    mean = np.mean(blurred, axis=0)
    assert min(alone) > 1.1 > float(np.linalg.norm(mean / np.linalg.norm(mean) - ada))  # ... their mean near
    misses = [Look(0.8, distance=d) for d in alone]                        # unknown frames
    # a sharper first frame matches Ada; the frames alone still say "a stranger" (most of the evidence)
    clear = unit(50, ada, spread=0.5)
    faces, looks = [clear] + blurred, [Look(0.8, "ada", "Ada", 1.0)] + misses
    assert walk(faces, looks, None)[-1].decided and walk(faces, looks, None)[-1].person_id is None
    calls: list = []
    seen = walk(faces, looks, gallery_matcher({"ada": ada, "eve": unit(2)}, 1.1, calls))
    assert [t.usable_faces for t in seen] == [1, 2, 3, 4, 5, 6, 7] and calls
    assert [t.name for t in seen[:3]] == [None, None, "Ada"]               # from the 3rd face (VISIT_MEAN_FACES)
    assert seen[2].named_by_mean and seen[-1].decided and seen[-1].person_id == "ada" and seen[-1].name == "Ada"
    # VISIT_MEAN_FACES 0 (the default but for dlib+sface): the frames alone
    assert walk(faces, looks, gallery_matcher({"ada": ada}, 1.1, []), RULES)[-1].person_id is None
    # no frame matched Ada: her mean alone does not name the visit (a stranger's mean drifts too)
    assert walk(blurred, misses, gallery_matcher({"ada": ada}, 1.1, []))[-1].person_id is None
    # a stranger's mean stays a stranger; faces under MIN_MATCH_QUALITY are left out of the mean
    stranger = [unit(60 + i, unit(3), spread=4.5) for i in range(7)]
    assert walk(stranger, looks, gallery_matcher({"ada": ada}, 1.1, []))[-1].person_id is None
    poor = walk(faces, [Look(0.1, usable=False)] * 7, gallery_matcher({"ada": ada}, 1.1, []))
    assert poor[-1].usable_faces == 0 and poor[-1].mean_vector() is None and not poor[-1].decided


def test_a_name_the_mean_face_gave_stays_until_the_frames_name_another_or_a_correction_refuses_it():
    ada = unit(1)
    answers = iter([MeanMatch("ada", "Ada", 1.05, 0.55)] + [None] * 20)   # under the threshold once, then over
    matcher = lambda vector: next(answers)                                 # noqa: E731
    looks = [Look(0.8, "ada", "Ada", 1.05), Look(0.8, distance=1.3), Look(0.8, distance=1.3),
             Look(0.8, distance=1.3), Look(0.8, distance=1.3)]
    seen = walk([unit(80 + i, ada) for i in range(5)], looks, matcher)
    assert [t.name for t in seen] == [None, None, "Ada", "Ada", "Ada"]    # kept though the frames say "a stranger"
    assert seen[-1].decided and seen[-1].named_by_mean
    # the frames name Eve: Eve; a correction refusing Ada: no longer Ada
    answers = iter([MeanMatch("ada", "Ada", 1.05, 0.55)] + [None] * 20)
    eves = walk([unit(90 + i, ada) for i in range(8)], looks[:3] + [Look(1.0, "eve", "Eve", 0.5)] * 5, matcher)
    assert eves[2].name == "Ada" and eves[-1].name == "Eve" and not eves[-1].named_by_mean
    answers = iter([MeanMatch("ada", "Ada", 1.05, 0.55)] + [None] * 20)
    agree = walk([unit(85 + i, ada) for i in range(6)], looks[:3] + [Look(0.9, "ada", "Ada", 0.6)] * 3, matcher)
    assert [t.name for t in agree[2:]] == ["Ada"] * 4 and agree[-1].named_by_mean   # the frames agree: still Ada
    answers = iter([MeanMatch("ada", "Ada", 1.05, 0.55)] + [None] * 20)
    refused = walk([unit(95 + i, ada) for i in range(4)], looks[:3] + [Look(0.8, distance=1.3, refused={"ada"})],
                   matcher)
    assert refused[2].name == "Ada" and refused[-1].name is None


def test_the_mean_face_is_quality_weighted_and_an_older_stored_track_reads_without_one():
    ada = unit(1)
    track = new_track(Sighting((0, 0, 10, 10), ada, 0.9), now=0.0)
    a, b = unit(3), unit(4)
    track.add_usable_face(a, 0.25)
    track.add_usable_face(b, 0.75)
    expected = 0.25 * a + 0.75 * b
    assert track.usable_faces == 2 and np.allclose(track.mean_vector(), expected / np.linalg.norm(expected), atol=1e-6)
    old = {k: v for k, v in track.to_json().items() if k not in ("face_mean", "face_weight", "usable_faces",
                                                                    "named_by_mean")}
    restored = TrackState.from_json(old)
    assert restored.mean_vector() is None and restored.usable_faces == 0 and not restored.named_by_mean


def test_the_mean_face_is_not_asked_for_a_visit_its_frames_named():
    ada = unit(1)
    calls: list = []
    seen = walk([unit(70 + i, ada) for i in range(5)], [Look(0.9, "ada", "Ada", 0.7)] * 5,
                gallery_matcher({"ada": ada}, 1.1, calls))
    assert seen[-1].name == "Ada" and seen[-1].usable_faces == 5 and calls == []


def test_reclustering_keeps_only_groups_the_join_rule_allows():
    from app.visitors.clustering import REFUSED, clusters_of, keeps_join_rule, regroup
    a, b = unit(30), unit(31)
    u = b - (b @ a) * a
    u /= np.linalg.norm(u)
    # five faces 0.5 rad apart on one circle: each within 1.0 of its neighbours, the ends 1.68 apart
    chain = np.array([np.cos(t) * a + np.sin(t) * u for t in (0.0, 0.5, 1.0, 1.5, 2.0)], np.float32)
    assert keeps_join_rule(chain[:3], 1.0) and not keeps_join_rule(chain, 1.0)
    # DBSCAN makes one cluster of the chain and a cut at 2.0 keeps it whole: the join rule refuses it
    assert clusters_of(chain, 1.0, 2, 2.0).tolist() == [REFUSED] * 5
    # cut at 1.2, each part keeps the rule: two visitors
    labels = clusters_of(chain, 1.0, 2, 1.2)
    assert min(labels) >= 0 and len(set(labels.tolist())) == 2 and labels[0] != labels[4]
    # refused rows stay where they are, even when their visitor's clustered sightings move away
    # (DBSCAN's noise would follow them): visitor x holds the chain and one of four faces of t,
    # whose other three are y's; that one moves to y, the chain stays in x
    tight = np.array([unit(70 + i, unit(70), 0.1) for i in range(4)])
    moves = regroup(np.vstack([chain, tight]), ["x"] * 6 + ["y"] * 3, 1.0, 2, spread=2.0)
    assert moves == {"y": [5]}
