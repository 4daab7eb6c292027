"""The real server: Gunicorn with two workers sharing one gallery in Redis."""
import threading

import requests

from samples.photos import photo_bytes

PEOPLE = ["ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling"]


def worker_and_name(server, image):
    """(the worker that answered, the name it matched the first face to) of a recognition."""
    response = server.recognize(image)
    face = response.expect(200)["faces"][0]
    return response.headers["X-Facerec-Worker"], face["match"]["name"] if face["match"] else None


def answers_per_worker(server, image, workers=2, attempts=80):
    """{worker pid: set of names it answered}, asking until every worker has answered (a new
    connection each time, so the kernel spreads them over the workers)."""
    seen = {}
    for _ in range(attempts):
        pid, name = worker_and_name(server, image)
        seen.setdefault(pid, set()).add(name)
        if len(seen) == workers:
            return seen
    raise AssertionError(f"only workers {sorted(seen)} answered in {attempts} requests")


def test_every_worker_sees_an_enrollment_and_a_deletion(gunicorn_server, api):
    server = api.of(gunicorn_server.url)
    probe = photo_bytes("madonna", 0)
    assert all(names == {None} for names in answers_per_worker(server, probe).values())
    response = server.enroll("Madonna", photo_bytes("madonna", 1, "train"))
    assert response.status_code == 201, response.text
    pid = response.json["person_id"]
    assert all(names == {"Madonna"} for names in answers_per_worker(server, probe).values())
    assert server.delete_person(pid).status_code == 200
    assert all(names == {None} for names in answers_per_worker(server, probe).values())


def test_concurrent_enrollments_while_recognizing_lose_nothing(gunicorn_server, api):
    url, server = gunicorn_server.url, api.of(gunicorn_server.url)
    names = [f"{person}-{i}" for i in range(3) for person in PEOPLE]
    images = {name: photo_bytes(name.rsplit("-", 1)[0], int(name.rsplit("-", 1)[1]), "train") for name in names}
    errors, stop = [], threading.Event()

    def enroll_some(chunk):
        for name in chunk:
            response = server.enroll(name, images[name])
            if response.status_code != 201:
                errors.append(response.text)

    def keep_recognizing():
        while not stop.is_set():
            response = requests.post(f"{url}/recognize", data=photo_bytes("elton_john", 0),
                                     headers={"Content-Type": "image/jpeg"}, timeout=30)
            if response.status_code != 200:
                errors.append(response.text)

    recognizer = threading.Thread(target=keep_recognizing)
    recognizer.start()
    enrollers = [threading.Thread(target=enroll_some, args=(names[i::5],)) for i in range(5)]
    for t in enrollers:
        t.start()
    for t in enrollers:
        t.join()
    stop.set()
    recognizer.join()
    assert errors == []
    people = requests.get(f"{url}/people", timeout=10).json()
    enrolled = {p["name"]: p["face_count"] for p in people["people"]}
    assert {n: enrolled.get(n) for n in names} == {n: 1 for n in names}
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    assert 'facerec_http_requests_total{endpoint="api.enroll",method="POST",status="201"}' in metrics


def test_celebrities_end_to_end_over_http(gunicorn_server, celebrities, api):
    """Enroll the 5-celebrity train photos through the API, then probe the val photos:
    a person left out of enrollment comes back unknown, and all 25 are recognized."""
    url = gunicorn_server.url
    for person in requests.get(f"{url}/people", timeout=10).json()["people"]:  # earlier tests' people
        assert requests.delete(f"{url}/people/{person['person_id']}", timeout=10).status_code == 200

    def enroll_train_photos(person):
        pid, no_face = None, 0
        for path in sorted((celebrities / "train" / person).glob("*.jpg")):
            fields = {"person_id": pid} if pid else {"name": person}
            response = requests.post(f"{url}/enroll", files={"image": (path.name, path.read_bytes())},
                                     data=fields, timeout=30)
            if response.status_code == 422:
                no_face += 1
                continue
            assert response.status_code in (200, 201), response.text
            pid = response.json()["person_id"]
        assert no_face <= 1

    def recognized(person):
        return [worker_and_name(api.of(url), path.read_bytes())[1]
                for path in sorted((celebrities / "val" / person).glob("*.jpg"))]

    left_out = "mindy_kaling"
    for person in PEOPLE:
        if person != left_out:
            enroll_train_photos(person)
    assert set(recognized(left_out)) == {None}
    enroll_train_photos(left_out)
    results = {person: recognized(person) for person in PEOPLE}
    correct = sum(name == person for person, names in results.items() for name in names)
    assert (correct, sum(len(v) for v in results.values())) == (25, 25), results


def test_double_take_chunked_uploads_through_gunicorn(gunicorn_server):
    """Double Take's uploads (axios: Transfer-Encoding chunked, no Content-Length) through the
    production server, to both compatibility APIs."""
    from compat import double_take_post
    url = gunicorn_server.url
    for person in requests.get(f"{url}/people", timeout=10).json()["people"]:  # earlier tests' people
        assert requests.delete(f"{url}/people/{person['person_id']}", timeout=10).status_code == 200
    image = ("frame.jpg", photo_bytes("jerry_seinfeld", 1, "train"), "image/jpeg")
    trained = double_take_post(f"{url}/v1/vision/face/register", {"image": image, "userid": "jerry chunked"})
    assert trained.status_code == 200 and trained.json()["success"] is True, trained.text
    probe = ("probe.jpg", photo_bytes("jerry_seinfeld", 0), "image/jpeg")
    deepstack = double_take_post(f"{url}/v1/vision/face/recognize", {"image": probe}).json()
    assert [p["userid"] for p in deepstack["predictions"]] == ["jerry chunked"]
    compreface = double_take_post(f"{url}/api/v1/recognition/recognize?face_plugins=undefined&det_prob_threshold=0.8",
                                  {"file": probe}, {"x-api-key": "any"}).json()
    assert [f["subjects"][0]["subject"] for f in compreface["result"]] == ["jerry chunked"]
    assert double_take_post(f"{url}/api/v1/recognition/faces?subject=jerry+chunked", {}, {"x-api-key": "any"},
                            method="DELETE").json() == {"deleted": 1}
