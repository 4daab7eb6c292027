"""Visits, not frames: people walking up to a camera, recognized frame by frame and visit by
visit, through the app (Flask's test client: the whole app) on a real redis-server, models
in-process; and visitor purity with many strangers.

    python -m bench.bench_visits [--sets normal hard] [--per-person N] [--strangers N]
                                 [--frames 8 12] [--out results/bench_visits.json]

Visits: each 5-celebrity val photo is one visit of 8-12 frames in a 1280x720 frame (placed by
the default detector's box, whatever PREPROCESSOR says, so that every configuration sees the
same frames), the face
growing (a person walking up) with per-frame horizontal motion blur, noise and JPEG
compression, some visits in IR grey, in two sets (SETS): "normal" (faces ~20 -> ~100 px,
frame-level right ~80%) and "hard" (faces ~16 -> 48-60 px, heavier blur, JPEG 20-50: frame-level
right near 50%). Known visits: the 25 val photos with every person's train photos enrolled.
Stranger visits: the val photos of Jerry, Madonna and Mindy with only Ben and Elton enrolled
(people the gallery does not hold). The unknown visits feed the visitor clustering: its purity
(each visitor holds one person) is measured there.

Many strangers (`--strangers`, all found by default; `--sets` with no set runs only this part):
faces of ~40 different people from group photos in npm packages (samples/strangers.py; chosen
by the default MTCNN and FaceNet+SFace whatever the configuration, so runs compare), 3
visits each at camera quality, posted in shuffled order with nothing enrolled: visitors made,
those holding several people, strangers split, as posted and after one re-clustering, and the
re-clustering's cut (VISITOR_MAX_SPREAD) compared on the same sightings. The same frames again
with the 5 celebrities enrolled: the stranger visits and frames taken for one of them.

Frame-level and visit-level results are computed from the same frames: each frame's candidates,
distances and quality as the app answered, replayed through the visits' own identity rules
(app/visits/identity.py) for each MIN_MATCH_QUALITY and accumulation rule compared, so that the
rows differ only in the rule; each frame's face vector is read back from its track (Redis), so
the visit's mean face is replayed too (for each gate: the mean of the faces it lets through).
The cost of quality and tracking per frame is the app's own
timing_ms ("quality", "track": a Redis compare-and-set) over every frame.
"""
import io
import json
import tempfile
import time
import uuid
from dataclasses import dataclass, replace

import numpy as np

from app import create_app
from app.usecases.visits import mean_match
from app.visits.identity import Identity, Look, MeanMatch, VisitRules, after_look
from app.visits.tracks import unit, weighted_mean
from bench.results import bench_parser, write_results
from config import load_settings
from config.settings import pipeline_values
from samples.camera import Look as CameraLook
from samples.camera import camera_frame
from samples.photos import PEOPLE, photo, photo_bytes, photo_files
from scripts.processes import free_port, start_redis

GATES = [0.0, 0.1, 0.2, 0.3, 0.4]
STRANGERS = ["jerry_seinfeld", "madonna", "mindy_kaling"]


@dataclass(frozen=True)
class Conditions:
    """How a set's visits look: the face grows from `first_px` to `last_px` (a range: drawn per
    visit), each frame with blur, JPEG quality and noise drawn in these ranges; every
    `grey_every`-th visit in IR grey."""
    first_px: float
    last_px: tuple[float, float]
    blur: tuple[int, int]
    jpeg: tuple[int, int]
    noise: tuple[float, float]
    grey_every: int


SETS = {
    # faces up to ~100 px: frame-level right ~80%
    "normal": Conditions(20, (100, 100), (0, 7), (30, 70), (0, 6), 4),
    # faces ~16 to 48-60 px, heavier blur, JPEG 20-50, more noise: frame-level right near 50%
    "hard": Conditions(16, (48, 60), (2, 9), (20, 50), (2, 8), 3),
}


# The many-strangers visits: faces from 20 px to 36-60 px, 0-7 px motion blur, JPEG 25-60,
# noise, one visit in three in IR grey (drawn per visit)
STRANGER_LOOK = Conditions(20, (36, 60), (0, 7), (25, 60), (0, 6), 3)


def visit_frames(rgb, box, rng, frames: int, grey: bool | None, cond: Conditions = SETS["normal"]) -> list[bytes]:
    """A person walking up: the face growing as `cond` says, drifting towards the frame's centre;
    `grey` None: drawn, one visit in `cond.grey_every`."""
    start = (rng.uniform(300, 980), rng.uniform(250, 470))
    last = rng.uniform(*cond.last_px) if cond.last_px[1] > cond.last_px[0] else cond.last_px[0]
    if grey is None:
        grey = bool(rng.random() < 1 / cond.grey_every)
    out = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        look = CameraLook(face_px=cond.first_px + (last - cond.first_px) * t,
                          blur=int(rng.integers(cond.blur[0], cond.blur[1] + 1)),
                          quality=int(rng.integers(cond.jpeg[0], cond.jpeg[1] + 1)),
                          noise=float(rng.uniform(*cond.noise)), grey=grey,
                          centre=(start[0] + (640 - start[0]) * t, start[1] + (360 - start[1]) * t))
        out.append(camera_frame(rgb, box, look, seed=int(rng.integers(1 << 30))))
    return out


def many_strangers(client, enrolled, strangers, rng, visits_per: int, frames: int, gate: float,
                   rules: dict[str, VisitRules]) -> dict:
    """Visitor purity with many strangers: `visits_per` visits of each stranger, in shuffled
    order, through /recognize of `client` (nothing enrolled): which visitor each visit's
    sighting joined, as posted and after one re-clustering (housekeeping). The same frames
    through `enrolled` (the 5 celebrities enrolled): the visits and frames taken for one of
    them, as the app answered and replayed at MIN_MATCH_QUALITY `gate` under each of `rules`."""
    from app.usecases import housekeeping
    s = client.application.extensions["facerec"]
    of_key = s.visitors.key("visitors:of")
    order = [k for k in range(len(strangers)) for _ in range(visits_per)]
    rng.shuffle(order)
    sighting_of: dict[str, int] = {}   # sighting id -> stranger
    t0, visits = time.time() - 80000, []
    for n, k in enumerate(order):
        t0 += 120
        posted = visit_frames(strangers[k].rgb, strangers[k].box, rng, frames, None, STRANGER_LOOK)
        for i, frame in enumerate(posted):
            client.post("/recognize", data=frame, content_type="image/jpeg",
                        query_string={"camera_id": "door", "timestamp": t0 + 0.3 * i})
        visits.append({"person": strangers[k].label, "frames": posted_visit(enrolled, posted, t0)})
        for sid in s.redis.hkeys(of_key):
            sighting_of.setdefault(sid.decode(), k)
        if (n + 1) % 50 == 0:
            print(f"  {n + 1}/{len(order)} stranger visits posted", flush=True)

    def grouping() -> dict:
        owner = {k.decode(): v.decode() for k, v in s.redis.hgetall(of_key).items()}
        holds: dict[str, list[int]] = {}
        for sid, k in sighting_of.items():
            if sid in owner:
                holds.setdefault(owner[sid], []).append(k)
        people = [len(set(v)) for v in holds.values()]
        visitors_of = [len({vid for vid, ks in holds.items() if k in ks}) for k in range(len(strangers))]
        seen = [v for v in visitors_of if v > 0]
        return {"visitors": len(holds), "mixed": sum(p > 1 for p in people), "largest_mix": max(people, default=0),
                "sightings_per_visitor": {"median": float(np.median([len(v) for v in holds.values()])) if holds else 0,
                                          "max": max((len(v) for v in holds.values()), default=0)},
                "strangers_seen": len(seen), "strangers_split": sum(v > 1 for v in seen),
                "sightings_in_mixed_visitors": sum(len(v) for v in holds.values() if len(set(v)) > 1),
                "mixes": sorted(([strangers[k].label for k in sorted(set(v))] for v in holds.values()
                                 if len(set(v)) > 1), key=len, reverse=True)[:10]}
    posted = grouping()
    vectors = s.visitors.faces(list(sighting_of))   # for re-clustering rules compared offline
    kept = {"strangers": [sighting_of[sid] for sid, _, _ in vectors],
            "vectors": [[round(float(x), 5) for x in vector] for _, vector, _ in vectors]}
    housekeeping.run_once(s)
    replayed = {name: score([], visits, gate, rule, True) for name, rule in rules.items()}
    return {"strangers": len(strangers), "visits": len(order), "frames": len(order) * frames,
            "taken_for_someone": {
                "as_answered": {"visits": sum(any(named_track(f) for f in v["frames"]) for v in visits),
                                "frames": sum(bool(f["face"] and f["face"]["app_match"])
                                              for v in visits for f in v["frames"])},
                **{name: {"visits": row["visits"]["stranger_visits_accepted"],
                          "frames": row["frames"]["stranger_frames_accepted"]} for name, row in replayed.items()}},
            "sightings": len(sighting_of), "visits_answered": visits,
            "as_posted": posted, "reclustered": grouping(), "kept": kept,
            "recluster_rules": recluster_rules(kept, s.settings.visitor_distance, s.settings.visitor_min_samples)}


def named_track(frame: dict) -> bool:
    """Whether the app answered this frame with its visit decided as an enrolled person."""
    track = frame["face"] and frame["face"]["app_track"]
    return bool(track and track[1] and track[0])


def recluster_rules(kept: dict, eps: float, min_samples: int) -> list[dict]:
    """The re-clustering's clusters of the kept sightings (app/visitors/clustering.clusters_of),
    DBSCAN alone (spread 2.0: no cut) and cut by complete linkage at each spread, against the
    strangers they are: clusters, clusters holding several people, strangers split."""
    from app.visitors.clustering import clusters_of
    vectors, who = np.array(kept["vectors"], np.float32), kept["strangers"]
    rows = []
    for spread in (2.0, 1.3, 1.2, 1.1, 1.0):
        labels = clusters_of(vectors, eps, min_samples, spread).tolist() if len(vectors) else []
        labels = [label if label >= 0 else f"noise{i}" for i, label in enumerate(labels)]  # noise: alone
        holds: dict = {}
        for label, k in zip(labels, who):
            holds.setdefault(label, []).append(k)
        mixed = [v for v in holds.values() if len(set(v)) > 1]
        split = sum(len({label for label, w in zip(labels, who) if w == k}) > 1 for k in set(who))
        rows.append({"spread": spread, "clusters": len(holds), "mixed": len(mixed),
                     "largest_mix": max((len(set(v)) for v in mixed), default=1 if holds else 0),
                     "sightings_in_mixed": sum(len(v) for v in mixed), "strangers_split": split})
    return rows


def enroll(client, person):
    """Every train photo of `person` with a face (one has none), one per request."""
    person_id = None
    for i in range(len(photo_files(person, "train"))):
        who = {"person_id": person_id} if person_id else {"name": person}
        response = client.post("/enroll", data={**who, "image": (io.BytesIO(photo_bytes(person, i, "train")), "a.jpg"),
                                                "force": "true"}, content_type="multipart/form-data")
        assert response.status_code in (200, 201, 422), response.json
        person_id = person_id or (response.json or {}).get("person_id")


def run_visits(client, people, rng, frames_range, pipeline, cond: Conditions, per_person: int = 0) -> list[dict]:
    """Every val photo of `people` (the first `per_person` of each: 0 all) as one visit, framed
    around the largest face `pipeline` finds in it; per visit its frames' largest face as answered,
    with the gallery's answer for the visit's mean face so far at each gate (`means`)."""
    visits, t0 = [], time.time() - 86000
    for person in people:
        for index in range(per_person or len(photo_files(person))):
            rgb = photo(person, index)
            box = pipeline.detect(rgb).largest_face().box
            n = int(rng.integers(frames_range[0], frames_range[1] + 1))
            frames = visit_frames(rgb, box, rng, n, len(visits) % cond.grey_every == cond.grey_every - 1, cond)
            t0 += 120   # visits of one camera, far apart (more than TRACK_GAP_S)
            visits.append({"person": person, "index": index, "frames": posted_visit(client, frames, t0)})
    return visits


def posted_visit(client, frames: list[bytes], t0: float) -> list[dict]:
    """One visit's frames posted to camera "door" 0.3 s apart from `t0`: each frame's largest face
    as answered, with the gallery's answer for the visit's mean face so far at each gate (`means`)."""
    s = client.application.extensions["facerec"]
    seen, means = [], {gate: (None, 0.0, 0) for gate in GATES}
    for i, frame in enumerate(frames):
        body = client.post("/recognize", data=frame, content_type="image/jpeg",
                           query_string={"camera_id": "door", "timestamp": t0 + 0.3 * i}).json
        face = max(body["faces"], key=lambda f: f["box"]["x2"] - f["box"]["x1"]) if body["faces"] else None
        seen.append({"timing": body["timing_ms"], "face": face and {
            "quality": face["quality"], "track_id": face["track_id"], "visitor_id": face["visitor_id"],
            "candidates": [(c["name"], c["distance"]) for c in face["candidates"]],
            "app_match": face["match"] and face["match"]["name"],
            "app_track": face["track"] and (face["track"]["name"], face["track"]["decided"])}})
        means = means_after(s, face, means)
        seen[-1]["means"] = {str(gate): mean_answer(s, mean, count) for gate, (mean, _, count) in means.items()}
    return seen


def means_after(s, face: dict | None, means: dict) -> dict:
    """Each gate's (quality-weighted mean of the visit's usable faces, their weight, count) after
    this frame, as the track keeps it (tracks.weighted_mean); the face's vector is its track's
    last one, as stored."""
    if face is None or not face["track_id"] or face["quality"] <= 0:
        return means
    vector = s.visits.track(face["track_id"]).embedding
    return {gate: (*weighted_mean(mean, weight, vector, face["quality"]), count + 1) if face["quality"] >= gate
            else (mean, weight, count) for gate, (mean, weight, count) in means.items()}


def mean_answer(s, mean, count: int) -> list | None:
    """[person, distance, confidence, faces] the visit's mean face matches (app/usecases/visits.mean_match)."""
    vector = unit(mean)
    found = None if vector is None else mean_match(s, vector)
    return found and [found.name, found.distance, found.confidence, count]


def replay(visit: dict, gate: float, rules: VisitRules, weighted: bool):
    """(frame-level names, the visit's identity after each frame) under MIN_MATCH_QUALITY `gate`."""
    evidence, names, identity, by_mean = {}, {}, Identity(None, None, False, 0.0), False
    frame_names, identities = [], []
    for frame in visit["frames"]:
        face = frame["face"]
        if face is None:
            frame_names.append(None)
            identities.append(identity)
            continue
        usable = face["quality"] >= gate
        near = face["candidates"][0] if face["candidates"] else None
        match = near if usable and near and near[1] <= rules.threshold else None
        frame_names.append(match[0] if match else None)
        quality = face["quality"] if weighted else 1.0
        look = Look(quality, match and match[0], match and match[0], near and near[1], usable=usable)
        mean = (frame.get("means") or {}).get(str(gate))   # the gallery's answer for the visit's mean face
        identity, by_mean = after_look(evidence, names, identity, by_mean, look, mean[3] if mean else 0,
                                       lambda: mean and MeanMatch(mean[0], mean[0], mean[1], mean[2]), rules)
        identities.append(identity)
    return frame_names, identities


def score(known: list[dict], strangers: list[dict], gate: float, rules: VisitRules, weighted: bool) -> dict:
    row = {"frames": {"right": 0, "wrong": 0, "unknown": 0, "no_face": 0, "stranger_frames_accepted": 0,
                      "known_frames": 0},
           "visits": {"right": 0, "wrong": 0, "unknown": 0, "stranger_visits_accepted": 0}, "frames_to_decide": [],
           "from_first_face": [], "from_first_match": []}
    for visit in known:
        frame_names, identities = replay(visit, gate, rules, weighted)
        for name, frame in zip(frame_names, visit["frames"]):
            row["frames"]["known_frames"] += 1
            key = "no_face" if frame["face"] is None else "unknown" if name is None else \
                "right" if name == visit["person"] else "wrong"
            row["frames"][key] += 1
        final = identities[-1]
        key = "unknown" if not final.decided or final.name is None else \
            "right" if final.name == visit["person"] else "wrong"
        row["visits"][key] += 1
        first = next((i for i, d in enumerate(identities) if d.decided and d.name == visit["person"]), None)
        if first is not None:
            row["frames_to_decide"].append(first + 1)
            detected = next(i for i, frame in enumerate(visit["frames"]) if frame["face"])
            row["from_first_face"].append(first - detected + 1)
            matched = next(i for i, name in enumerate(frame_names) if name == visit["person"])
            row["from_first_match"].append(first - matched + 1)
    for visit in strangers:
        frame_names, identities = replay(visit, gate, rules, weighted)
        row["frames"]["stranger_frames_accepted"] += sum(n is not None for n in frame_names)
        row["visits"]["stranger_visits_accepted"] += any(d.decided and d.name is not None for d in identities)
    steps, tracked, after = row.pop("frames_to_decide"), row.pop("from_first_face"), row.pop("from_first_match")
    row["median_frames_to_decide"] = float(np.median(steps)) if steps else None
    # counted from the visit's first frame with a face found: the track's `frames` when it is decided
    row["median_track_frames_to_decide"] = float(np.median(tracked)) if tracked else None
    # counted from the visit's first frame that matched its person (the faces start too small to match)
    row["median_frames_from_first_match"] = float(np.median(after)) if after else None
    row["visits"]["of"] = len(known)
    row["stranger_visits"] = len(strangers)
    return row


def app_agrees(visits: list[dict]) -> dict:
    """Of the visits whose last frame has a face, those whose track there (as the app answered)
    has the name the replay at the settings' own rule gives the visit: the replay is the app's
    rule, run again (a visit whose track split may differ: the replay takes it as one)."""
    compared = [v for v in visits if v["frames"][-1]["face"]]   # a visit whose last frame has a face
    return {"visits": len(compared),
            "agree": sum((v["frames"][-1]["face"]["app_track"] or [None])[0] == v["replayed"] for v in compared)}


def purity(client, strangers: list[dict]) -> dict:
    """Each visitor holds one person: visitors made from the unknown visits, and the people in each."""
    holds: dict[str, set[str]] = {}
    for visit in strangers:
        for frame in visit["frames"]:
            if frame["face"] and frame["face"]["visitor_id"]:
                holds.setdefault(frame["face"]["visitor_id"], set()).add(visit["person"])
    s = client.application.extensions["facerec"]
    sightings = s.redis.hlen(s.visitors.key("visitors:of"))
    return {"visitors": len(holds), "pure": sum(len(p) == 1 for p in holds.values()),
            "largest_mix": max((len(p) for p in holds.values()), default=0), "sightings": sightings,
            "stranger_visits": len(strangers), "stranger_frames": sum(len(v["frames"]) for v in strangers)}


def print_rows(name: str, rows: list[dict]) -> None:
    for row in rows:
        f, v = row["frames"], row["visits"]
        print(f"{name:>6} {row['rule']:>28} gate {row['min_match_quality']:.2f} | frames right {f['right']}/"
              f"{f['known_frames']} wrong {f['wrong']} unknown {f['unknown']} no face {f['no_face']} "
              f"stranger frames accepted {f['stranger_frames_accepted']} | visits right {v['right']}/{v['of']} "
              f"wrong {v['wrong']} unknown {v['unknown']} strangers accepted {v['stranger_visits_accepted']}/"
              f"{row['stranger_visits']} | median frames to decide {row['median_frames_to_decide']} "
              f"(track frames {row['median_track_frames_to_decide']}, "
              f"from the first match {row['median_frames_from_first_match']})")


def rules_of(settings) -> tuple[VisitRules, VisitRules]:
    """(the settings' weighted rule, the unweighted one it is compared with: frames alone, no
    mean face)."""
    rules = VisitRules(settings.match_threshold, decide_weight=settings.visit_decide_weight,
                       unknown_weight=settings.visit_unknown_weight, decide_share=settings.visit_decide_share,
                       switch_factor=settings.visit_switch_factor, near_miss=settings.visit_near_miss,
                       mean_faces=settings.visit_mean_faces)
    unweighted = VisitRules(settings.match_threshold, margin_scale=1e9, decide_weight=0.5, unknown_weight=0.75,
                            decide_share=settings.visit_decide_share, switch_factor=settings.visit_switch_factor,
                            near_miss=0.0, mean_faces=0)
    return rules, unweighted


def main(argv=None):
    parser = bench_parser(__doc__, "bench_visits")
    parser.add_argument("--frames", type=int, nargs=2, default=[8, 12], help="frames per visit, from and to")
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS),
                        help="probe sets (default: all; none: only the many-strangers part)")
    parser.add_argument("--per-person", type=int, default=0, help="val photos per person (0: all 5)")
    parser.add_argument("--strangers", type=int, default=-1,
                        help="many-strangers purity: how many strangers (-1: all found, 0: skip)")
    parser.add_argument("--stranger-visits", type=int, default=3, help="visits per stranger")
    parser.add_argument("--stranger-frames", type=int, default=5, help="frames per stranger visit")
    args = parser.parse_args(argv)
    from app.pipeline import build_pipeline
    port = free_port()
    server = start_redis(tempfile.mkdtemp(prefix="bench-redis-"), port)
    try:
        configured = load_settings(model_backend="local")
        pipeline = build_pipeline(configured)
        # The visits' frames are made around, and the many strangers chosen by, the default
        # detector and embedder whatever PREPROCESSOR and EMBEDDER say, so that every configuration
        # is measured on the same frames and the same strangers (YuNet's scores, for one, stay
        # under stranger_faces' 0.95); FaceNet and SFace as the separate models, float32 in any
        # export (facenet_sface's FaceNet may be bfloat16: EXPORT_PRECISION), the same vectors.
        default = load_settings(model_backend="local", preprocessor="mtcnn", embedder="facenet+sface",
                                fused_graph=False)
        reference = pipeline if pipeline_values(default) == pipeline_values(configured) else build_pipeline(default)

        def make_client():
            settings = load_settings(model_backend="local", redis_url=f"redis://127.0.0.1:{port}/0", top_k=3,
                                     housekeeping_interval_s=0, redis_prefix=f"bench-{uuid.uuid4().hex[:8]}:")
            return create_app(settings, pipeline=pipeline).test_client()
        settings = make_client().application.extensions["facerec"].settings
        rules, unweighted = rules_of(settings)
        frames_alone = replace(rules, mean_faces=0)
        results = {"seed": args.seed, "settings": {k: getattr(settings, k) for k in (
            "match_threshold", "min_match_quality", "visit_decide_weight", "visit_unknown_weight",
            "visit_decide_share", "visit_switch_factor", "visit_near_miss", "visit_mean_faces", "track_gap_s",
            "track_max_distance",
            "visitor_min_quality",
            "visitor_distance", "visitor_min_face_px", "visitor_min_score")}, "sets": {}}
        every = []
        for name in args.sets:
            rng = np.random.default_rng(args.seed)
            known_client, stranger_client = make_client(), make_client()
            for person in PEOPLE:
                enroll(known_client, person)
            for person in PEOPLE:
                if person not in STRANGERS:
                    enroll(stranger_client, person)
            started = time.perf_counter()
            known = run_visits(known_client, PEOPLE, rng, args.frames, reference, SETS[name], args.per_person)
            strangers = run_visits(stranger_client, STRANGERS, rng, args.frames, reference, SETS[name],
                                   args.per_person)
            for visit in known + strangers:
                final = replay(visit, settings.min_match_quality, rules, True)[1][-1]
                visit["replayed"] = final.name if final.decided else None
            frames = [f for v in known + strangers for f in v["frames"]]
            every += frames
            tracks = [len({f["face"]["track_id"] for f in v["frames"] if f["face"]}) for v in known + strangers]
            got = results["sets"][name] = {
                "conditions": SETS[name].__dict__, "frames": len(frames),
                "seconds": round(time.perf_counter() - started, 1),
                "tracks_per_visit": {"one": sum(t == 1 for t in tracks), "more": sum(t > 1 for t in tracks),
                                     "max": max(tracks)},
                "rows": [{"rule": "weighted (quality x margin)", "min_match_quality": g,
                          **score(known, strangers, g, rules, True)} for g in GATES]
                        + [{"rule": "weighted, frames alone", "min_match_quality": settings.min_match_quality,
                            **score(known, strangers, settings.min_match_quality, frames_alone, True)}]
                        + [{"rule": "unweighted frames", "min_match_quality": g,
                            **score(known, strangers, g, unweighted, False)}
                           for g in (0.0, settings.min_match_quality)],
                "visitor_purity": purity(stranger_client, strangers),
                "app_agrees": app_agrees(known + strangers),
                "visits": known + strangers,
            }
            print_rows(name, got["rows"])
            print(name, "tracks per visit", got["tracks_per_visit"], "visitor purity", got["visitor_purity"],
                  "the app's visits as replayed", got["app_agrees"], flush=True)
        if every:
            results["cost_ms_per_frame"] = {
                stage: {"median": float(np.median([f["timing"].get(stage, 0) for f in every])),
                        "p90": float(np.percentile([f["timing"].get(stage, 0) for f in every], 90))}
                for stage in ("quality", "track", "match", "detect", "embed", "total")}
            print("cost ms/frame", results["cost_ms_per_frame"]["quality"], results["cost_ms_per_frame"]["track"])
        if args.strangers != 0:
            from samples.strangers import stranger_faces
            started = time.perf_counter()
            faces = stranger_faces(reference)
            faces = faces if args.strangers < 0 else faces[:args.strangers]
            enrolled = make_client()
            for person in PEOPLE:
                enroll(enrolled, person)
            got = many_strangers(make_client(), enrolled, faces, np.random.default_rng(args.seed), args.stranger_visits,
                                 args.stranger_frames, settings.min_match_quality,
                                 {"weighted": rules, "weighted, frames alone": frames_alone})
            got["seconds"] = round(time.perf_counter() - started, 1)
            results["many_strangers"] = got
            print("many strangers:", json.dumps({k: v for k, v in got.items() if k not in ("kept", "visits_answered")}),
                  flush=True)
        write_results(args.out, results)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
