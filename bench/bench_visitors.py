"""Unknown visitors and corrections on the 5-celebrity photos, through the app (Flask's test
client: every request goes through the whole app) on a real redis-server, models in-process.

    python -m bench.bench_visitors [--orders 3] [--parts visitors cap sizes corrections health]

1. Visitors: nothing enrolled; the 118 photos (train and val) posted as frames, in shuffled
   orders; per VISITOR_DISTANCE: faces kept, visitors made, and pairwise precision / recall of
   the grouping against the true identities (the largest face of each photo is labelled),
   as posted and after one re-clustering (DBSCAN, VISITOR_MIN_SAMPLES).
2. Minimums: photos with a face of 64 px or more, shrunk so that the face is 16 to 64 px:
   distance of each face's embedding to its person's mean (train photos at full size).
3. Corrections, over all 20 ordered pairs (A, B): A enrolled (train photos), MATCH_THRESHOLD
   raised to 1.5 so that B passes for A; B's first photo matched as A corrected once ("not A");
   then B's other photos matched as A, and A's own val photos matched as A, before and after.
   At the chosen CORRECTION_MARGIN over HTTP; other margins with the same embeddings through
   the same classes the server uses (GalleryReplica, Negatives).
4. Gallery health: each person's train photos enrolled, then one photo of another person
   added: outliers flagged (wrong photo found) and false flags.
5. Re-clustering at the cap: 5,000 synthetic sightings, time and merges.
"""
import itertools
import json
import tempfile
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import redis

from app import create_app
from app.corrections.negatives import Negatives
from app.gallery import GalleryModel, GalleryReplica, GalleryStore, NewFace
from app.usecases import housekeeping
from app.usecases.gallery_health import face_reports
from bench.results import bench_parser, write_results
from config import load_settings
from samples.photos import PEOPLE, photo_files
from scripts.processes import free_port, start_redis

DISTANCES = (0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2)
RAISED_THRESHOLD = 1.5
MARGINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
PARTS = ["visitors", "cap", "sizes", "corrections", "health"]


def photos():
    """[(person, split, file bytes)] of all 118 photos."""
    return [(p, split, f.read_bytes()) for split in ("train", "val") for p in PEOPLE for f in photo_files(p, split)]


def largest(faces):
    return max(range(len(faces)), key=lambda i: (faces[i]["box"]["x2"] - faces[i]["box"]["x1"])
               * (faces[i]["box"]["y2"] - faces[i]["box"]["y1"])) if faces else None


def pairwise(labels, truth):
    """Pairwise precision and recall of grouping `labels` against `truth`."""
    same_label = np.equal.outer(labels, labels)[np.triu_indices(len(labels), 1)]
    same_truth = np.equal.outer(truth, truth)[np.triu_indices(len(truth), 1)]
    both = int((same_label & same_truth).sum())
    return both / max(int(same_label.sum()), 1), both / max(int(same_truth.sum()), 1)


def visitors_run(make_client, all_photos, distance, order):
    client = make_client(visitor_distance=distance)
    s = client.application.extensions["facerec"]
    kept, extra_kept, truth, sids, stage_ms = 0, 0, [], [], []
    known = set()
    start = time.time() - 80_000
    for n, i in enumerate(order):
        person, _, data = all_photos[i]
        # each photo a visit of its own (a minute apart, more than TRACK_GAP_S): one sighting each
        body = client.post("/recognize", data=data, content_type="image/jpeg",
                           query_string={"camera_id": "bench", "timestamp": f"{start + 60 * n:.3f}"}).json
        stage_ms.append(body["timing_ms"]["visitors"])
        owners = {k.decode(): v.decode() for k, v in s.redis.hgetall(s.visitors.key("visitors:of")).items()}
        new = {vid: sid for sid, vid in owners.items() if sid not in known}  # this frame's sightings, by visitor
        known |= set(owners)
        main = largest(body["faces"])
        for j, face in enumerate(body["faces"]):
            if face["visitor_id"] is None:
                continue
            if j == main:
                kept += 1
                truth.append(person)
                sids.append(new[face["visitor_id"]])  # one frame's faces are never one visitor
            else:
                extra_kept += 1

    def grouping():
        owner = {k.decode(): v.decode() for k, v in s.redis.hgetall(s.visitors.key("visitors:of")).items()}
        labels = np.array([owner[sid] for sid in sids])
        return pairwise(labels, np.array(truth)), s.visitors.count()

    (p0, r0), made = grouping()
    t0 = time.perf_counter()
    report = housekeeping.run_once(s)
    recluster_s = time.perf_counter() - t0
    (p1, r1), after = grouping()
    return {"kept": kept, "extra_faces_kept": extra_kept, "visitors": made, "precision": p0, "recall": r0,
            "reclustered": {"visitors": after, "precision": p1, "recall": r1, "moved": report.reclustering.moved,
                            "seconds": round(recluster_s, 3)}, "visitors_stage_ms_p50": float(np.median(stage_ms))}


def bench_visitors(make_client, all_photos, orders):
    rng = np.random.default_rng(0)
    shuffles = [rng.permutation(len(all_photos)) for _ in range(orders)]
    rows = []
    for distance in DISTANCES:
        runs = [visitors_run(make_client, all_photos, distance, order) for order in shuffles]
        mean = lambda f: round(float(np.mean([f(r) for r in runs])), 4)  # noqa: E731
        row = {"distance": distance, "kept": runs[0]["kept"], "extra_faces_kept": runs[0]["extra_faces_kept"],
               "visitors": mean(lambda r: r["visitors"]), "precision": mean(lambda r: r["precision"]),
               "min_precision": min(r["precision"] for r in runs), "recall": mean(lambda r: r["recall"]),
               "reclustered": {k: mean(lambda r, k=k: r["reclustered"][k])
                               for k in ("visitors", "precision", "recall")},
               "reclustered_min_precision": min(r["reclustered"]["precision"] for r in runs),
               "visitors_stage_ms_p50": mean(lambda r: r["visitors_stage_ms_p50"]), "runs": runs}
        rows.append(row)
        print(f"VISITOR_DISTANCE {distance:.2f}: {row['kept']} of {len(all_photos)} photos' faces kept | as posted: "
              f"{row['visitors']:.1f} visitors, precision {row['precision']:.3f} (min {row['min_precision']:.3f}), "
              f"recall {row['recall']:.3f} | re-clustered: {row['reclustered']['visitors']:.1f} visitors, precision "
              f"{row['reclustered']['precision']:.3f}, recall {row['reclustered']['recall']:.3f}", flush=True)
    return rows


def bench_sizes(pipeline):
    """Own-mean distance and rank-1 (nearest mean, within 1.0) of faces shrunk to each size."""
    embedded = {p: [] for p in PEOPLE}
    big = []
    for person, split, data in photos():
        rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        frame = pipeline.analyze_rgb(rgb)
        face = frame.largest_face()
        if face is None:
            continue
        if split == "train":
            embedded[person].append(face.embedding)
        if min(face.box[2] - face.box[0], face.box[3] - face.box[1]) >= 64:
            big.append((person, rgb, float(min(face.box[2] - face.box[0], face.box[3] - face.box[1]))))
    means = {p: np.mean(v, axis=0) / np.linalg.norm(np.mean(v, axis=0)) for p, v in embedded.items()}
    rows = []
    for size in (16, 20, 24, 32, 40, 48, 64):
        own, right, found = [], 0, 0
        for person, rgb, side in big:
            k = size / side
            small = cv2.resize(rgb, (max(1, int(rgb.shape[1] * k)), max(1, int(rgb.shape[0] * k))),
                               interpolation=cv2.INTER_AREA)
            face = pipeline.analyze_rgb(small).largest_face()
            if face is None:
                continue
            found += 1
            d = {p: float(np.linalg.norm(face.embedding - m)) for p, m in means.items()}
            own.append(d[person])
            right += min(d, key=d.get) == person and d[person] <= 1.0
        rows.append({"face_px": size, "photos": len(big), "found": found,
                     "own_mean_d_p50": round(float(np.median(own)), 3),
                     "own_mean_d_p90": round(float(np.percentile(own, 90)), 3), "identified": right})
        print(f"face {size:>2} px: {found}/{len(big)} found, distance to own mean p50 {rows[-1]['own_mean_d_p50']} "
              f"p90 {rows[-1]['own_mean_d_p90']}, nearest mean and within 1.0: {right}", flush=True)
    return rows


def enroll_one_by_one(client, name, files):
    """Each photo on its own (one of the train photos has no face MTCNN finds: 422, skipped)."""
    pid = None
    for data in files:
        fields = {"person_id": pid} if pid else {"name": name}
        response = client.post("/enroll", data=data, content_type="image/jpeg", query_string=fields)
        if response.status_code in (200, 201):
            pid = response.json["person_id"]
    return pid


def matched_as(client, data, pid):
    body = client.post("/recognize", data=data, content_type="image/jpeg").json
    face = body["faces"][largest(body["faces"])] if body["faces"] else None
    return body["event_id"], largest(body["faces"]), bool(face and face["match"] and face["match"]["person_id"] == pid)


def corrections_http(make_client, by):
    """The protocol over HTTP at the default CORRECTION_MARGIN, every ordered pair."""
    totals = {"pairs": 0, "look_alike_before": 0, "look_alike_after": 0, "own_before": 0, "own_after": 0, "own": 0}
    for a, b in itertools.permutations(PEOPLE, 2):
        client = make_client(match_threshold=RAISED_THRESHOLD)
        pid = enroll_one_by_one(client, a, by[a]["train"])
        b_photos = by[b]["train"] + by[b]["val"]
        posted = [matched_as(client, data, pid) for data in b_photos]
        own_before = [matched_as(client, data, pid)[2] for data in by[a]["val"]]
        first = next((i for i, (_, _, m) in enumerate(posted) if m), None)
        if first is None:
            continue
        event_id, index, _ = posted[first]
        assert client.post("/corrections", json={"event_id": event_id, "face_index": index,
                                                 "not_person_id": pid}).status_code == 200
        others = [i for i in range(len(b_photos)) if i != first]
        totals["pairs"] += 1
        totals["look_alike_before"] += sum(posted[i][2] for i in others)
        totals["look_alike_after"] += sum(matched_as(client, b_photos[i], pid)[2] for i in others)
        totals["own"] += len(own_before)
        totals["own_before"] += sum(own_before)
        totals["own_after"] += sum(matched_as(client, data, pid)[2] for data in by[a]["val"])
    print(f"corrections over HTTP (default margin, MATCH_THRESHOLD {RAISED_THRESHOLD}): {totals}", flush=True)
    return totals


def corrections_margins(client, embedded, model):
    """The same protocol per margin, with the embeddings computed once, through GalleryReplica and
    Negatives; `model`: the GalleryModel of the embedder that made them."""
    rows = []
    for margin in MARGINS:
        totals = {"margin": margin, "pairs": 0, "look_alike_before": 0, "look_alike_after": 0, "own_before": 0,
                  "own_after": 0}
        for a, b in itertools.permutations(PEOPLE, 2):
            prefix = f"bench-{uuid.uuid4().hex[:8]}:"
            store, negatives = GalleryStore(client, prefix, model=model), Negatives(client, prefix, 50, margin,
                                                                                   model)
            pid, _ = store.create_person(a, [NewFace(v) for v in embedded[a]["train"]])
            replica = GalleryReplica(store)
            replica.sync()

            def matched(x):
                negatives.sync()
                found = next((m for m in replica.match(x, 3) if m.distance <= RAISED_THRESHOLD
                              and not negatives.refuses(m.person_id, x, m.distance)), None)
                return found is not None and found.person_id == pid
            looks = embedded[b]["train"] + embedded[b]["val"]
            before = [matched(x) for x in looks]
            own_before = [matched(x) for x in embedded[a]["val"]]
            if not any(before):
                continue
            first = before.index(True)
            negatives.add(pid, "n0", looks[first])
            totals["pairs"] += 1
            totals["look_alike_before"] += sum(before) - 1
            totals["look_alike_after"] += sum(matched(x) for i, x in enumerate(looks) if i != first)
            totals["own_before"] += sum(own_before)
            totals["own_after"] += sum(matched(x) for x in embedded[a]["val"])
            client.delete(*client.keys(prefix + "*"))
        rows.append(totals)
        print(f"margin {margin:.1f}: look-alike photos matched {totals['look_alike_before']} -> "
              f"{totals['look_alike_after']}, own photos matched {totals['own_before']} -> {totals['own_after']} "
              f"({totals['pairs']} pairs)", flush=True)
    return rows


def bench_health(embedded, threshold):
    """Outliers: false flags on each person's train faces (all, and random subsets of 3, 5, 8);
    an intruder (another person's val photo) added: flagged, and alone."""
    rng = np.random.default_rng(0)
    rows = []
    for size in (None, 3, 5, 8):
        flags = genuine = found = trials = 0
        for _ in range(1 if size is None else 40):
            for a, b in itertools.permutations(PEOPLE, 2):
                train = embedded[a]["train"]
                picked = range(len(train)) if size is None else rng.choice(len(train), size, replace=False)
                faces = {f"f{i}": train[i] for i in picked}
                if b == PEOPLE[(PEOPLE.index(a) + 1) % len(PEOPLE)]:  # each person's faces counted once per round
                    genuine += len(faces)
                    flags += sum(r.outlier for r in face_reports(faces, threshold))
                intruders = embedded[b]["val"] if size is None else [embedded[b]["val"][rng.integers(5)]]
                for x in intruders:
                    flagged = {r.face_id for r in face_reports({**faces, "intruder": x}, threshold) if r.outlier}
                    trials += 1
                    found += flagged == {"intruder"}
        rows.append({"faces_per_person": size or "all train", "genuine_faces": genuine, "false_flags": flags,
                     "intruders": trials, "intruder_alone_flagged": found})
        print(f"gallery health: {rows[-1]}", flush=True)
    return rows


def bench_recluster_at_cap(client, sightings=5000, per_visitor=10):
    """Re-clustering at VISITOR_MAX_SIGHTINGS: synthetic strangers (10 sightings each, 0.6 from
    their own centre), every one of them first split in two visitors: the time and the merges."""
    from app.visitors.clustering import recluster
    from app.visitors.store import Sighting, VisitorStore, new_id
    from samples.vectors import near, unit
    rng = np.random.default_rng(1)
    store = VisitorStore(client, f"bench-{uuid.uuid4().hex[:8]}:", max_sightings=sightings)
    now = time.time()
    for centre in unit(sightings // per_visitor, rng):
        halves = [new_id(), new_id()]
        for i in range(per_visitor):
            sighting = Sighting(new_id(), "cam", now, 0.99, 80.0, 79.2)
            store.add(sighting, halves[i % 2], i < 2, near(centre, rng, 0.6), b"")
    t0 = time.perf_counter()
    report = recluster(store, 1.0, 3, load_settings().visitor_max_spread)
    result = {"sightings": report.sightings, "visitors_before": report.visitors_before,
              "visitors_after": report.visitors_after, "moved": report.moved,
              "seconds": round(time.perf_counter() - t0, 2)}
    print(f"re-clustering at the cap: {result}", flush=True)
    return result


def embed_all(pipeline, all_photos):
    embedded = {p: {"train": [], "val": []} for p in PEOPLE}
    for person, split, data in all_photos:
        face = pipeline.analyze(data).largest_face()
        if face is not None:
            embedded[person][split].append(face.embedding)
    return embedded


def main(argv=None):
    parser = bench_parser(__doc__, "bench_visitors")
    parser.add_argument("--orders", type=int, default=3, help="shuffled orders the photos are posted in")
    parser.add_argument("--parts", nargs="+", default=PARTS, choices=PARTS, help="what to measure (default: all); "
                        "the others are kept from an earlier --out file")
    args = parser.parse_args(argv)
    from app.pipeline import build_pipeline
    port = free_port()
    server = start_redis(tempfile.mkdtemp(prefix="bench-redis-"), port)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        pipeline = build_pipeline(load_settings(model_backend="local"))

        def make_client(**overrides):
            settings = load_settings(model_backend="local", redis_url=url, housekeeping_interval_s=0,
                                     redis_prefix=f"bench-{uuid.uuid4().hex[:8]}:", **overrides)
            return create_app(settings, pipeline=pipeline).test_client()
        all_photos = photos()
        by = {p: {split: [d for q, sp, d in all_photos if q == p and sp == split] for split in ("train", "val")}
              for p in PEOPLE}
        defaults = load_settings()
        results = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
        results["settings"] = {"visitor_distance": defaults.visitor_distance,
                                "visitor_min_samples": defaults.visitor_min_samples,
                                "visitor_min_score": defaults.visitor_min_score,
                                "visitor_min_face_px": defaults.visitor_min_face_px,
                                "correction_margin": defaults.correction_margin, "raised_threshold": RAISED_THRESHOLD}
        if "visitors" in args.parts:
            results["visitors"] = bench_visitors(make_client, all_photos, args.orders)
        if "cap" in args.parts:
            results["recluster_at_cap"] = bench_recluster_at_cap(redis.Redis.from_url(url))
        if "sizes" in args.parts:
            results["minimum_face_size"] = bench_sizes(pipeline)
        embedded = embed_all(pipeline, all_photos) if {"corrections", "health"} & set(args.parts) else None
        if "corrections" in args.parts:
            results["corrections_http"] = corrections_http(make_client, by)
            model = GalleryModel(pipeline.embedder.model_id, pipeline.embedder.dim)
            results["corrections_margins"] = corrections_margins(redis.Redis.from_url(url), embedded, model)
        if "health" in args.parts:
            results["gallery_health"] = bench_health(embedded, defaults.match_threshold)
    finally:
        server.terminate()
        server.wait()
    write_results(args.out, results)


if __name__ == "__main__":
    main()
