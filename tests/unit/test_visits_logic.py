"""The visits' pure logic, without any service: which track a face continues, a visit's
identity from its frames (evidence, decision, hysteresis, corrections), what MQTT publishes."""
import json

import numpy as np

from app.mqtt.visits import visit_messages
from app.visits.camera import TrackRules, after_frame
from app.visits.identity import Identity, Look, VisitRules, accumulate, decided, weight
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
