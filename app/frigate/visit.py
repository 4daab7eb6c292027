"""One Frigate event worked as one visit of our server: its snapshots (and, if configured, the
camera's latest frames) are posted to /recognize with the event id as `visit_key`, until the
visit's identity is decided; then the name goes back to Frigate as the event's sub_label,
once, with its score.

Decided means the `track` of the frame's largest face (the one the visit_key joins) says
`decided` (docs: VISITS_CONTRACT.md). A server without tracks (no `track` key in its faces)
is handled the way Double Take did: the first match of the largest face decides, and an event
whose faces never matched is a stranger."""
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.frigate.config import BridgeConfig, CameraConfig
from app.frigate.doubletake import Outcome, match_object
from app.frigate.http import FaceServer, FrigateApi, Unreachable
from app.frigate.messages import FrigateEvent

log = logging.getLogger(__name__)


@dataclass
class Decision:
    name: str | None            # None: decided a stranger
    confidence: float
    by_track: bool


@dataclass
class Visit:
    """The bridge's state of one Frigate event; `event` is replaced by newer messages."""
    event: FrigateEvent
    ended: threading.Event = field(default_factory=threading.Event)
    frames: int = 0
    faces_seen: int = 0
    track_id: str | None = None
    decision: Decision | None = None
    written: str | None = None  # the sub_label written


def face_area(face: dict) -> float:
    box = face["box"]
    return max(0.0, box["x2"] - box["x1"]) * max(0.0, box["y2"] - box["y1"])


def decision_of(body: dict, min_face_area: int) -> tuple[Decision | None, str | None, dict | None]:
    """(decision or None, the visit's track id, the largest face) from one /recognize answer."""
    faces = [f for f in body.get("faces") or [] if isinstance(f, dict) and isinstance(f.get("box"), dict)]
    if not faces:
        return None, None, None
    largest = max(faces, key=face_area)
    if "track" in largest or "track_id" in largest:
        track = largest.get("track")
        if not isinstance(track, dict):
            return None, largest.get("track_id"), largest
        if track.get("decided") and face_area(largest) >= min_face_area:
            name = track.get("name") if isinstance(track.get("name"), str) else None
            return Decision(name, float(track.get("confidence") or 0.0), True), track.get("id"), largest
        return None, track.get("id"), largest
    match = largest.get("match")
    if isinstance(match, dict) and isinstance(match.get("name"), str) and face_area(largest) >= min_face_area:
        return Decision(match["name"], float(match.get("confidence") or 0.0), False), None, largest
    return None, None, largest


def attempt_plan(camera: CameraConfig) -> list[str]:
    """Snapshot and latest-frame attempts, interleaved (Double Take ran the two side by side)."""
    plan = []
    for i in range(max(camera.snapshot_attempts, camera.latest_attempts)):
        plan += (["snapshot"] if i < camera.snapshot_attempts else []) + (["latest"] if i < camera.latest_attempts
                                                                           else [])
    return plan


class VisitWorker:
    """Works one visit to its end (in a thread of the bridge's pool)."""

    def __init__(self, config: BridgeConfig, frigate: FrigateApi, server: FaceServer, stop: threading.Event,
                 publish: Callable[[Outcome], None], count: Callable[[str], None]):
        self.config, self.frigate, self.server, self.stop = config, frigate, server, stop
        self.publish, self.count = publish, count

    def _image(self, visit: Visit, kind: str, camera: CameraConfig) -> tuple[bytes, float | None] | None:
        event = visit.event
        height = {"height": camera.snapshot_height} if camera.snapshot_height else {}
        if kind == "snapshot":
            return self.frigate.image(f"/api/events/{event.id}/snapshot.jpg",
                                      {"crop": int(camera.crop), "quality": 95, **height}, self.config.max_image_bytes)
        if visit.ended.is_set():    # the camera's latest frame no longer shows this person
            return None
        got = self.frigate.image(f"/api/{event.camera}/latest.jpg", {"quality": 95, **height},
                                 self.config.max_image_bytes)
        return (got[0], time.time()) if got else None

    def run(self, visit: Visit) -> None:
        started, camera = time.monotonic(), self.config.camera(visit.event.camera)
        outcome = Outcome(visit.event.id, visit.event.camera, list(visit.event.current_zones), 0, 0.0)
        try:
            for i, kind in enumerate(attempt_plan(camera)):
                if self.stop.is_set() or visit.decision:
                    break
                if i:
                    self.stop.wait(camera.attempt_delay_s)
                outcome.attempts += 1
                self._attempt(visit, kind, camera, outcome)
            self._settle(visit)
            self._write(visit)
        except Unreachable as e:
            self.count("gave_up")
            log.error("event %s: %s", visit.event.id, e)
        except Exception:  # noqa: BLE001 - one event's failure must never end the bridge
            self.count("failed")
            log.exception("event %s failed", visit.event.id)
        outcome.duration_s = time.monotonic() - started
        self._report(visit, outcome)

    def _attempt(self, visit: Visit, kind: str, camera: CameraConfig, outcome: Outcome) -> None:
        got = self._image(visit, kind, camera)
        if got is None:
            self.count("no_image")
            return
        image, frame_time = got
        sent = time.monotonic()
        body = self.server.recognize(image, visit.event.camera, visit.event.id, frame_time or visit.event.frame_time)
        if body is None:
            return
        visit.frames += 1
        self.count("frames")
        decision, track_id, largest = decision_of(body, camera.min_face_area)
        visit.track_id = track_id or visit.track_id
        faces = [f for f in body.get("faces") or [] if isinstance(f, dict) and face_area(f) >= camera.min_face_area]
        visit.faces_seen += len(faces)
        outcome.person_count = max(outcome.person_count, len(faces))
        for face in faces:
            match = face.get("match") if isinstance(face.get("match"), dict) else None
            found = match_object(match["name"] if match else "unknown", match["confidence"] if match else 0.0,
                                 bool(match), face["box"], kind, time.monotonic() - sent,
                                 f"{visit.event.id}-{outcome.attempts}")
            (outcome.unknowns if not match else outcome.misses).append(found)
        if decision:
            visit.decision = decision

    def _settle(self, visit: Visit) -> None:
        """After the attempts: a track still open is read once more (other frames may have decided
        it); a server without tracks calls an event whose faces never matched a stranger."""
        if visit.decision or not visit.frames:
            return
        if visit.track_id:
            track = self.server.track(visit.track_id)
            if track and track.get("decided"):
                visit.decision = Decision(track.get("name") if isinstance(track.get("name"), str) else None,
                                          float(track.get("confidence") or 0.0), True)
        elif visit.faces_seen:
            visit.decision = Decision(None, 0.0, False)

    def _write(self, visit: Visit) -> None:
        decision = visit.decision
        if decision is None:
            return
        name = decision.name or self.config.unknown_sub_label
        if not name:
            return
        held = visit.event.sub_label
        if held and held != name:
            log.warning("event %s already has sub_label %r (Frigate's own face recognition?); left as it is",
                        visit.event.id, held)
            self.count("sub_label_kept")
            return
        if self.frigate.set_sub_label(visit.event.id, name, decision.confidence if decision.name else None):
            visit.written = name
            self.count("sub_labels")
            self.count("decided_by_track" if decision.by_track else "decided_by_match")
            log.info("event %s on %s: sub_label %r (%.2f)", visit.event.id, visit.event.camera, name,
                     decision.confidence)

    def _report(self, visit: Visit, outcome: Outcome) -> None:
        """The Double Take outcome: the decided person as the match, the other faces as misses/unknowns."""
        decision = visit.decision
        best_of: dict[str, dict] = {}
        for miss in outcome.misses:   # Double Take keeps each name's best face
            if miss["name"] not in best_of or best_of[miss["name"]]["confidence"] < miss["confidence"]:
                best_of[miss["name"]] = miss
        outcome.misses = list(best_of.values())
        if decision and decision.name:
            best = next((m for m in outcome.misses if m["name"] == decision.name), None)
            if best is not None:
                outcome.misses = [m for m in outcome.misses if m["name"] != decision.name]
                outcome.matches = [{**best, "match": True, "confidence": round(decision.confidence * 100, 2)}]
        outcome.unknowns.sort(key=lambda m: -m["confidence"])
        self.publish(outcome)
