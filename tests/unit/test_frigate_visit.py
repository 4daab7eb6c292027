"""How the bridge decides a visit from /recognize answers and which events it works
(app/frigate/visit.py, app/frigate/bridge.py wanted()), no services."""
from frigate_standin import frigate_event

from app.frigate.bridge import wanted
from app.frigate.config import BridgeConfig, CameraConfig
from app.frigate.messages import parse_event
from app.frigate.visit import attempt_plan, decision_of

BIG = {"x1": 0, "y1": 0, "x2": 100, "y2": 100}
SMALL = {"x1": 0, "y1": 0, "x2": 10, "y2": 10}


def track(decided, name=None, confidence=0.9):
    return {"id": "t1", "person_id": "p1" if name else None, "name": name, "confidence": confidence,
            "decided": decided, "frames": 2, "first_seen": 1.0, "last_seen": 2.0}


def test_a_decided_track_of_the_largest_face_decides():
    body = {"faces": [{"box": SMALL, "match": None, "track_id": "t0", "track": track(True, "Bob")},
                      {"box": BIG, "match": None, "track_id": "t1", "track": track(True, "Ada", 0.8)}]}
    decision, track_id, largest = decision_of(body, 0)
    assert (decision.name, decision.confidence, decision.by_track, track_id) == ("Ada", 0.8, True, "t1")


def test_an_open_track_decides_nothing_even_with_a_match():
    body = {"faces": [{"box": BIG, "match": {"name": "Ada", "confidence": 0.9}, "track_id": "t1",
                       "track": track(False, "Ada")}]}
    decision, track_id, _ = decision_of(body, 0)
    assert decision is None and track_id == "t1"


def test_a_stranger_is_decided_with_no_name():
    decision, _, _ = decision_of({"faces": [{"box": BIG, "match": None, "track": track(True)}]}, 0)
    assert decision.name is None and decision.by_track


def test_a_small_face_never_decides():
    assert decision_of({"faces": [{"box": SMALL, "match": None, "track": track(True, "Ada")}]}, 2500)[0] is None


def test_a_server_without_tracks_is_decided_by_the_first_match():
    decision, track_id, _ = decision_of({"faces": [{"box": BIG, "match": {"name": "Ada", "confidence": 0.7}}]}, 0)
    assert (decision.name, decision.by_track, track_id) == ("Ada", False, None)
    assert decision_of({"faces": [{"box": BIG, "match": None}]}, 0)[0] is None
    assert decision_of({"faces": []}, 0) == (None, None, None)
    assert decision_of({"faces": [{"box": "bad"}, 3]}, 0) == (None, None, None)


def test_a_track_null_keeps_the_visit_open():
    assert decision_of({"faces": [{"box": BIG, "match": None, "track_id": None, "track": None}]}, 0)[:2] == (None, None)


def test_attempts_are_interleaved():
    assert attempt_plan(CameraConfig(snapshot_attempts=3, latest_attempts=1)) == ["snapshot", "latest", "snapshot",
                                                                                  "snapshot"]
    assert attempt_plan(CameraConfig(snapshot_attempts=0, latest_attempts=0)) == []


def test_which_events_are_worked():
    config = BridgeConfig(cameras={"garage": CameraConfig(enabled=False),
                                   "door": CameraConfig(ignore_zones=["street"], min_person_area=1000)})

    def why(camera, **fields):
        return wanted(parse_event(frigate_event("update", "1.2-a", camera, **fields), 1 << 20), config)
    assert why("door") is None and why("other") is None
    assert "off" in why("garage") and "label" in why("door", label="car")
    assert "street" in why("door", zones=["street", "porch"]) and "area" in why("door", area=500)
