"""Re-embedding the whole gallery with this worker's model (after a change of EMBEDDER or
FACE_CROP), while the server keeps answering: POST /gallery/reembed, `python -m app.cli reembed`.

    status = start_reembed(services)     # returns at once; a thread of this worker does the work
    status = reembed_status(services)    # progress, from Redis (any worker can answer)

Every face is embedded again from the crop kept at enrollment (app/pipeline/enrolled_crop.py)
or, for faces enrolled before crops were kept, from its 96x96 thumbnail when the detector
finds the face in it; a face with neither is removed from the gallery and named in the
report (its old vector cannot be compared with the new ones). Faces keep their ids: each is
rewritten by a logged "add", so every worker's copy follows. People are done in order of
their id, BATCH_FACES faces per model call; each person's faces and the progress (the last
person done) are written in one MULTI/EXEC, so an interrupted run (the worker restarted, a
model failed) resumes after the last person done, and no face is lost or written twice.

The gallery's model record says "reembedding" from the first batch to the last: matching
answers 409 gallery_model_mismatch meanwhile (the gallery is a mix of two models), and
enrolling is allowed only to workers of the new model. Only one run at a time: a Redis lock
(redis-py's Lock) held by the running thread, renewed every batch; it expires LOCK_TTL_S
after a worker dies, and the next POST resumes.

Where the run stands (and its lock) is kept by app/gallery/reembed_state.py.
"""
import logging
import threading
import time
from typing import Any

import numpy as np
import redis

from app.errors import FaceRecError
from app.gallery.model_record import READY, REEMBEDDING, ModelRecord
from app.gallery.reembed_state import ReembedState
from app.pipeline.embedders import joined
from app.pipeline.enrolled_crop import MAX_CROP_PIXELS, EnrolledCrop
from app.pipeline.imaging import decode_image
from app.services import Services

log = logging.getLogger(__name__)
BATCH_FACES = 32
LOCK_TTL_S = 60


def _state(s: Services) -> ReembedState:
    return ReembedState(s.redis, s.settings.redis_prefix)


def reembed_status(s: Services) -> dict[str, Any]:
    """What the last (or current) run did, and the gallery's and this worker's models."""
    state, failed, locked = _state(s).read()
    record, people = s.store.model_record()
    status = state.get("status", "idle")
    if locked and status != "running":   # a run holds the lock: starting (its state not yet written), or
        status = "running"                # finishing; a POST that lost the race says so, never "idle"
    if status == "running" and not locked:   # its worker stopped without saying so
        finished = record is not None and record.state == READY and record.model.id == state.get("target")
        status = "done" if finished else "interrupted"   # (stopped after its last write) or: a POST resumes
    counts = {k: int(state.get(k, 0)) for k in ("people_total", "people_done", "faces_done", "from_thumbnails")}
    return {"status": status, "worker_model": s.store.model.id,
            "gallery": record.describe() if record else None, "people": people,
            "target": state.get("target"), **counts,
            "not_reembedded": failed,
            **{k: state[k] for k in ("started_at", "finished_at", "error") if state.get(k)}}


def start_reembed(s: Services) -> tuple[dict[str, Any], bool]:
    """(status, started): starts a run in a thread of this worker unless there is nothing to
    do (the gallery is of this worker's model, or empty) or a run holds the lock."""
    record, people = s.store.model_record()
    if people == 0 or record is None or (record.model == s.store.model and record.state == READY):
        return reembed_status(s), False
    reembed = _state(s)
    lock = reembed.lock(LOCK_TTL_S)
    if not lock.acquire(blocking=False):
        return reembed_status(s), False
    try:
        _begin(s, reembed, record)
    except BaseException:
        lock.release()
        raise
    threading.Thread(target=_run, args=(s, reembed, lock), name="reembed", daemon=True).start()
    return reembed_status(s), True


def _begin(s: Services, reembed: ReembedState, record: ModelRecord) -> None:
    """Resume the run under way towards this worker's model, or start one from the first person."""
    state = reembed.fields()
    resuming = record.state == REEMBEDDING and record.model == s.store.model and state.get("target") == s.store.model.id
    if not resuming:
        previous = record.previous if record.state == REEMBEDDING else record.model.id
        reembed.begin(s.store.model.id, previous, len(s.store.pids()), _now())
        s.store.set_model_record(ModelRecord(s.store.model, REEMBEDDING, previous))
    reembed.update(status="running", error="")


def _run(s: Services, reembed: ReembedState, lock: Any) -> None:   # a redis-py Lock
    try:
        run_reembed(s, reembed, lock)
    except redis.exceptions.LockError:   # its lock expired and another run took over: that one reports
        log.warning("reembed: this run lost its lock to another one and stopped")
    except (FaceRecError, redis.RedisError, ValueError) as e:
        message = getattr(e, "message", None) or str(e)
        log.error("reembed stopped: %s", message)
        _note_stop(reembed, message)
    except Exception as e:  # a thread's exception would otherwise vanish; the state must say it stopped
        log.exception("reembed stopped")
        _note_stop(reembed, f"{type(e).__name__}: {e}")
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass


def _note_stop(reembed: ReembedState, message: str) -> None:
    try:
        reembed.update(status="interrupted", error=f"{message}; POST /gallery/reembed (or run reembed again) resumes")
    except redis.RedisError:
        pass


def run_reembed(s: Services, reembed: ReembedState, lock: redis.lock.Lock) -> None:
    """Every person after the cursor, BATCH_FACES faces per model call, then the record says ready."""
    cursor = reembed.cursor()
    batch, size = [], 0
    for pid in (p for p in s.store.pids() if p > cursor):
        faces = s.store.faces_to_reembed(pid)
        batch.append((pid, faces))
        size += len(faces)
        if size >= BATCH_FACES:
            _reembed_batch(s, reembed, lock, batch)
            batch, size = [], 0
    _reembed_batch(s, reembed, lock, batch)
    lock.reacquire()   # still ours: nobody else finished or restarted it
    s.store.set_model_record(ModelRecord(s.store.model, READY))
    reembed.update(status="done", finished_at=_now(), error="")


def _reembed_batch(s: Services, reembed: ReembedState, lock: Any,
                   batch: list[tuple[str, dict[str, tuple[bytes, bytes]]]]) -> None:
    lock.reacquire()   # LockNotOwnedError when it expired and another run took over: stop
    sources, inputs, failed = [], [], {}
    for pid, faces in batch:
        for fid, (crop, thumb) in sorted(faces.items()):
            source = _source(s, crop, thumb)
            if isinstance(source, str):
                failed[(pid, fid)] = source
                continue
            rgb, box, marks, new_crop = source
            sources.append((pid, fid, new_crop))
            inputs.append(s.pipeline.embedder.inputs(rgb, box[None], marks[None]))
    vectors = s.pipeline.embedder.embed_inputs(joined(inputs)) if inputs else np.zeros((0, s.store.dim))
    for pid, faces in batch:
        done = {fid: v for (p, fid, _), v in zip(sources, vectors) if p == pid}
        crops = {fid: c for p, fid, c in sources if p == pid and c}
        gone = [fid for (p, fid) in failed if p == pid]
        s.store.rewrite_faces(pid, done, crops, gone, also=reembed.progress(pid, len(done), len(crops), [
            {"person_id": pid, "face_id": fid, "reason": failed[(pid, fid)]} for fid in gone]))


def _source(s: Services, crop: bytes, thumb: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, bytes] | str:
    """(rgb, box, landmarks, crop to keep or b"") to embed a face from, or why there is none."""
    if crop:
        try:
            kept = EnrolledCrop.from_bytes(crop)
            return kept.rgb(), kept.box, kept.landmarks, b""
        except ValueError as e:
            log.warning("reembed: a stored face crop cannot be read (%s); trying the thumbnail", e)
    if not thumb:
        return "no face crop and no thumbnail was kept; enroll a new photo of this person"
    try:
        rgb = decode_image(thumb, MAX_CROP_PIXELS)   # a thumbnail is 96x96: no more is decoded
    except FaceRecError:
        return "no face crop was kept and the thumbnail cannot be decoded; enroll a new photo of this person"
    face = s.pipeline.detect(rgb).largest_face()
    if face is None:
        return "no face crop was kept and no face is found in its thumbnail; enroll a new photo of this person"
    return rgb, face.box, face.landmarks, EnrolledCrop(thumb, face.box, face.landmarks).to_bytes()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
