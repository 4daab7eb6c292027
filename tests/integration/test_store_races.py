"""Writers racing at the stores, against the real Redis (no models: vectors are made up). Each
store or worker below has its own connection, as two Gunicorn workers or two replicas have;
a race is either run by threads released together (many rounds), or forced: one writer's
change lands exactly between another's read and its write, through a hook of the code under
test. Every test here failed before its fix (a race review found each; see
docs/hostile-input.md, "Writes that race")."""
import uuid
from types import SimpleNamespace

import numpy as np
import pytest
import redis
from races import raced

from app.corrections.negatives import Negatives
from app.errors import FaceIdTaken, GalleryModelMismatch, NameTaken, PersonNotFound
from app.events import EventLog
from app.gallery import GalleryReplica, GalleryStore, NewFace
from app.gallery.model_record import REEMBEDDING, GalleryModel, ModelRecord
from app.usecases.backup import PersonRecord, import_people
from app.usecases.corrections import correct
from app.usecases.subjects import faces_page, rename_subject
from app.usecases.visitors import name_visitor
from app.visitors import clustering
from app.visitors.store import Sighting, VisitorStore, new_id
from samples.vectors import near, unit

MODEL = GalleryModel("race-model", 16)
RACE_ERRORS = (FaceIdTaken, NameTaken, PersonNotFound)   # what a loser of a race is answered


@pytest.fixture
def world(redis_server, tmp_path):
    """worker(): one more worker's parts (store, replica, events, negatives, visitors) on one
    key prefix, each with its own connection."""
    prefix = f"store-race-{uuid.uuid4().hex[:8]}:"

    def worker():
        client = redis.Redis.from_url(redis_server.url)
        store = GalleryStore(client, prefix, model=MODEL)
        return SimpleNamespace(store=store, replica=GalleryReplica(store, cache_dir=str(tmp_path)),
                               events=EventLog(client, prefix), negatives=Negatives(client, prefix, model=MODEL),
                               visitors=VisitorStore(client, prefix, model=MODEL),
                               settings=SimpleNamespace(min_match_quality=0.0, visitor_enroll_faces=5))
    return SimpleNamespace(worker=worker, prefix=prefix)


def faces(rng, n, **kw):
    return [NewFace(v, b"thumb", **kw) for v in unit(n, rng, MODEL.dim)]


# --- CompreFace's rename onto another subject's name: a merge ---------------------------

def test_a_merge_keeps_every_face_enrolled_while_it_runs(world):
    """A face enrolled into the merged subject while the merge runs (acknowledged) ends with the
    subject it was merged into, not deleted with the old subject."""
    rng = np.random.default_rng(0)
    lost = []
    for _ in range(25):
        merger, enroller = world.worker(), world.worker()
        ada, _ = merger.store.create_person(f"Ada {uuid.uuid4().hex[:6]}", faces(rng, 2))
        bob, _ = merger.store.create_person(f"Bob {uuid.uuid4().hex[:6]}", faces(rng, 1))
        ada_name = merger.store.person(ada)["name"]
        bob_name = merger.store.person(bob)["name"]
        merged, enrolled = raced([lambda: rename_subject(merger, ada_name, bob_name),
                                  lambda: enroller.store.add_faces(ada, faces(rng, 1))], RACE_ERRORS)
        assert merged is True
        acknowledged = 0 if isinstance(enrolled, PersonNotFound) else 1   # a 404 when Ada was gone already
        lost.append(1 + 2 + acknowledged - len(merger.store.person(bob)["faces"]))
        assert merger.store.find_person(ada_name) is None
    assert lost == [0] * 25


def test_two_merges_of_one_subject_move_its_faces_once(world):
    rng = np.random.default_rng(1)
    for _ in range(20):
        first, second = world.worker(), world.worker()
        ada, ada_faces = first.store.create_person(f"Ada {uuid.uuid4().hex[:6]}", faces(rng, 3))
        bob, bob_faces = first.store.create_person(f"Bob {uuid.uuid4().hex[:6]}", faces(rng, 1))
        names = first.store.person(ada)["name"], first.store.person(bob)["name"]
        answers = raced([lambda: rename_subject(first, *names), lambda: rename_subject(second, *names)], RACE_ERRORS)
        assert sum(a is True for a in answers) == 1 and sum(isinstance(a, PersonNotFound) for a in answers) == 1
        assert sorted(first.store.person(bob)["faces"]) == sorted(ada_faces + bob_faces)   # ids kept, once each


def test_a_merge_goes_only_into_the_subject_the_name_still_names(world, monkeypatch):
    """Bob is renamed Robert between the merge's lookup of "Bob" and its transaction: Alice is
    renamed Bob (what the client asked for), not merged into Robert."""
    rng = np.random.default_rng(12)
    merger, renamer = world.worker(), world.worker()
    alice, _ = merger.store.create_person("Alice", faces(rng, 2))
    bob, _ = merger.store.create_person("Bob", faces(rng, 1))
    merge = merger.store.merge_person

    def renamed_first(*args, **kw):
        if renamer.store.person(bob)["name"] == "Bob":
            renamer.store.rename(bob, "Robert")
        return merge(*args, **kw)
    monkeypatch.setattr(merger.store, "merge_person", renamed_first)
    assert rename_subject(merger, "Alice", "Bob")
    assert sorted((p["name"], p["face_count"]) for p in merger.store.people()) == [("Bob", 2), ("Robert", 1)]
    assert merger.store.find_person("Bob") == alice


def test_a_merge_moves_claimed_face_ids_and_replicas_follow(world):
    rng = np.random.default_rng(2)
    w = world.worker()
    w.replica.sync()
    ada, _ = w.store.create_person("Ada", faces(rng, 1, face_id="imported-1"))
    bob, _ = w.store.create_person("Bob", faces(rng, 1))
    vector = w.store.vectors(ada)[0]
    assert rename_subject(w, "Ada", "Bob")
    assert w.store.face_owners()["imported-1"] == bob
    assert w.store.redis.hget(w.store.owners_key, "imported-1") == bob.encode()   # the claim moved with it
    w.replica.sync()
    assert w.replica.person_of_face("imported-1") == bob
    assert w.replica.match(vector, 1)[0].person_id == bob
    with pytest.raises(PersonNotFound):
        w.store.merge_person(ada, bob)


def test_a_merge_waits_for_a_reembedding(world):
    rng = np.random.default_rng(3)
    w = world.worker()
    ada, _ = w.store.create_person("Ada", faces(rng, 1))
    bob, _ = w.store.create_person("Bob", faces(rng, 1))
    w.store.set_model_record(ModelRecord(MODEL, REEMBEDDING, "older-model"))
    with pytest.raises(GalleryModelMismatch):
        w.store.merge_person(ada, bob)
    assert len(w.store.pids()) == 2


# --- the re-embedding's rewrite and a rename ----------------------------------------------

def test_a_reembedding_logs_the_name_a_rename_left(world):
    """The rewrite logs each face with its person's name: a rename committed between its read
    and its write makes it read the name again."""
    rng = np.random.default_rng(4)
    reembedder, operator = world.worker(), world.worker()
    pid, fids = reembedder.store.create_person("Ada", faces(rng, 2))
    reembedder.store.set_model_record(ModelRecord(MODEL, REEMBEDDING, "older-model"))
    renamed = []

    def rename_once(pipe):   # queued into the rewrite's MULTI: runs between its reads and its EXEC
        if not renamed:
            operator.store.rename(pid, "Ada Lovelace")
            renamed.append(True)
    vectors = dict(zip(fids, unit(2, rng, MODEL.dim)))
    assert reembedder.store.rewrite_faces(pid, vectors, {}, [], also=rename_once) == 2
    log = [(e[b"op"].decode(), e[b"name"].decode()) for _, e in reembedder.store.redis.xrange(reembedder.store.log_key)
           if e[b"pid"].decode() == pid]
    after_rename = log[max(i for i, (op, _) in enumerate(log) if op == "rename") + 1:]
    assert after_rename == [("add", "Ada Lovelace")] * 2


# --- corrections of one event face: "is X" against "not X" --------------------------------

def an_event_face(w, rng):
    vector = unit(1, rng, MODEL.dim)
    eid = w.events.record("door", [{"person_id": None, "name": None, "distance": None, "box": [0, 0, 1, 1]}],
                          [b""], vector)
    return eid, vector[0]


def correction_state(w, x, eid):
    """(the face is X's, the face is a negative of X), and its face id's claim agrees."""
    fid = f"e{eid}-0"
    enrolled = fid in w.store.person(x)["faces"]
    assert (w.store.redis.hget(w.store.owners_key, fid) is not None) == enrolled
    return enrolled, bool(w.store.redis.hexists(w.negatives.key(x), fid))


def test_is_x_landing_inside_not_x_leaves_not_x(world, monkeypatch):
    """"not X" has read that the face is not X's when "is X" of the same face commits: "not X"
    must see it (and take the face back), not add a negative beside X's own face."""
    rng = np.random.default_rng(11)
    first, second = world.worker(), world.worker()
    x, _ = first.store.create_person("X", faces(rng, 2))
    eid, vector = an_event_face(first, rng)
    landed = []

    def is_x_first(*args, **kw):   # where "not X" writes its negative (a script, queued or run)
        if not landed:
            landed.append(correct(first, eid, 0, person_id=x))
        return real[name](*args, **kw)
    real = {name: getattr(second.negatives, name) for name in ("add", "queue_add")}
    for name in real:
        monkeypatch.setattr(second.negatives, name, lambda *a, name=name, **k: is_x_first(*a, **k))
    assert correct(second, eid, 0, not_person_id=x).correction == "not_person"
    assert landed[0].correction == "is_person"
    assert correction_state(first, x, eid) == (False, True)
    first.negatives.sync()
    assert not first.negatives.refuses(x, first.store.vectors(x)[0], 0.0)   # X's own faces still match X


def test_is_x_and_not_x_of_one_face_leave_one_of_them(world):
    """Whichever of the two lands last holds: the face in X and no negative of it, or the face out
    of X and a negative of X; never both (X would stop matching faces like their own)."""
    rng = np.random.default_rng(5)
    outcomes = []
    for _ in range(30):
        first, second = world.worker(), world.worker()
        x, _ = first.store.create_person(f"X {uuid.uuid4().hex[:6]}", faces(rng, 2))
        eid, _ = an_event_face(first, rng)
        first.replica.sync()
        second.replica.sync()
        answers = raced([lambda: correct(first, eid, 0, person_id=x), lambda: correct(second, eid, 0, not_person_id=x)],
                        RACE_ERRORS)
        assert [a.correction for a in answers] == ["is_person", "not_person"]
        outcomes.append(correction_state(first, x, eid))
        assert outcomes[-1] in ((True, False), (False, True)), outcomes


def test_negatives_keep_their_cap_and_the_people_set(world):
    rng = np.random.default_rng(7)
    w = world.worker()
    w.negatives.per_person = 3
    for k in range(5):
        assert w.negatives.add("x", f"n{k}", unit(1, rng, MODEL.dim)[0]) == min(k + 1, 3)
    assert sorted(k.decode() for k in w.store.redis.hkeys(w.negatives.key("x"))) == ["n2", "n3", "n4"]
    assert w.negatives.add("x", "n4", unit(1, rng, MODEL.dim)[0]) == 3   # again: replaced
    for k in (2, 3, 4):
        assert w.negatives.remove("x", f"n{k}")
    assert not w.negatives.remove("x", "n4")
    assert not w.store.redis.sismember(w.negatives.people_key, "x")


# --- naming a visitor against the housekeeping's re-clustering ----------------------------

EPS, MIN_SAMPLES, SPREAD = 0.9, 3, 1.2


def one_stranger_as_two_visitors(w, rng, first: int, second: int) -> tuple[str, str]:
    face = unit(1, rng, MODEL.dim)[0]
    v1, v2, now = new_id(), new_id(), 1_800_000_000.0
    for vid, n in ((v1, first), (v2, second)):
        for k in range(n):
            sighting = Sighting(new_id(), "door", now + k, 0.99, 100.0, 99.0, 1.0)
            assert w.visitors.add(sighting, vid, k == 0, near(face, rng, 0.05), b"jpeg")
    return v1, v2


def sightings_of(w, vid):
    return [m.decode() for m in w.visitors.redis.zrange(w.visitors.key("visitor:" + vid), 0, -1)]


def test_a_reclustering_does_not_bring_back_a_visitor_named_meanwhile(world, monkeypatch):
    rng = np.random.default_rng(8)
    w = world.worker()
    v1, v2 = one_stranger_as_two_visitors(w, rng, 3, 2)   # the re-clustering keeps v1 and moves v2's into it
    move = w.visitors.move

    def named_first(vid, sids, **kw):   # POST /visitors/v1/name lands between the read and the moves
        if not w.store.pids():
            name_visitor(w, v1, name="Ada")
        return move(vid, sids, **kw)
    monkeypatch.setattr(w.visitors, "move", named_first)
    clustering.recluster(w.visitors, EPS, MIN_SAMPLES, SPREAD)
    assert w.visitors.visitor(v1) is None and sightings_of(w, v1) == []
    assert len(sightings_of(w, v2)) == 2   # stays the stranger it was


def test_naming_retires_the_sightings_a_reclustering_moved_meanwhile(world, monkeypatch):
    rng = np.random.default_rng(9)
    w = world.worker()
    v1, v2 = one_stranger_as_two_visitors(w, rng, 2, 3)   # the re-clustering moves v1's into v2
    forget = w.visitors.forget

    def reclustered_first(vid, **kw):   # the housekeeping lands between the enroll and the retiring
        clustering.recluster(w.visitors, EPS, MIN_SAMPLES, SPREAD)
        return forget(vid, **kw)
    monkeypatch.setattr(w.visitors, "forget", reclustered_first)
    named = name_visitor(w, v1, name="Ada")
    enrolled = set(w.store.person(named.person_id)["faces"])
    assert len(enrolled) == 2
    assert {"v" + sid for sid in sightings_of(w, v2)} & enrolled == set()
    assert len(sightings_of(w, v2)) == 3
    monkeypatch.setattr(w.visitors, "forget", forget)
    assert name_visitor(w, v2, name="Bob").created   # its faces are no one's


# --- an import racing a writer that takes one of its face ids -----------------------------

def test_an_import_skips_a_person_whose_face_id_was_taken_after_its_check(world, monkeypatch):
    rng = np.random.default_rng(10)
    w, other = world.worker(), world.worker()
    seed, _ = w.store.create_person("Seed", faces(rng, 1))
    one, two = unit(2, rng, MODEL.dim)

    class File:
        model, dim = MODEL.id, MODEL.dim

        def people(self):
            yield PersonRecord("p1", "One", None, [NewFace(one, b"", "f-one")])
            yield PersonRecord("p2", "Two", None, [NewFace(two, b"", "f-shared")])
    create = w.store.create_person

    def claimed_meanwhile(*args, **kw):   # a correction takes f-shared after the import's check
        if args[0] == "Two":
            other.store.add_faces(seed, [NewFace(unit(1, rng, MODEL.dim)[0], b"", "f-shared")])
        return create(*args, **kw)
    monkeypatch.setattr(w.store, "create_person", claimed_meanwhile)
    result = import_people(w, File())
    assert result.people_created == 1 and len(result.skipped) == 1 and "f-shared" in result.skipped[0]
    assert sorted(p["name"] for p in w.store.people()) == ["One", "Seed"]
    assert w.store.face_owners()["f-shared"] == seed


def test_an_import_skips_a_person_deleted_after_it_was_read(world, monkeypatch):
    """A person deleted between the import's read of them and its write was a 404 that stopped
    the import half way, with no report: now they are skipped and listed, the rest imported."""
    rng = np.random.default_rng(11)
    w, other = world.worker(), world.worker()
    gone, _ = w.store.create_person("Gone", faces(rng, 1))
    kept, _ = w.store.create_person("Kept", faces(rng, 1))
    one, two = unit(2, rng, MODEL.dim)

    class File:
        model, dim = MODEL.id, MODEL.dim

        def people(self):
            yield PersonRecord(gone, "Gone", None, [NewFace(one, b"", "f-gone-2")])
            yield PersonRecord(kept, "Kept", None, [NewFace(two, b"", "f-kept-2")])
    add_faces = w.store.add_faces

    def deleted_meanwhile(pid, *args, **kw):   # an operator deletes Gone after the import read them
        if pid == gone:
            other.store.delete_person(gone)
        return add_faces(pid, *args, **kw)
    monkeypatch.setattr(w.store, "add_faces", deleted_meanwhile)
    result = import_people(w, File())
    assert result.faces_added == 1 and len(result.skipped) == 1 and "deleted here" in result.skipped[0]
    assert [p["name"] for p in w.store.people()] == ["Kept"] and len(w.store.person(kept)["faces"]) == 2


def test_a_page_of_faces_leaves_out_a_person_deleted_while_it_is_read(world, monkeypatch):
    """CompreFace's face list read each person after listing them: one deleted in between was a
    404 for the whole page."""
    rng = np.random.default_rng(12)
    w, other = world.worker(), world.worker()
    first, _ = w.store.create_person("Ann", faces(rng, 2))
    second, _ = w.store.create_person("Bob", faces(rng, 2))
    third, _ = w.store.create_person("Cid", faces(rng, 1))
    person = w.store.person

    def deleted_meanwhile(pid):
        if pid in (second, third):
            other.store.delete_person(pid)
        return person(pid)
    monkeypatch.setattr(w.store, "person", deleted_meanwhile)
    page = faces_page(w, 0, 10)
    assert {name for _, name in page.faces} == {"Ann"} and len(page.faces) == 2
    assert faces_page(w, 0, 10, subject="Cid").faces == []   # one subject's page, looked up by name first
