"""Exadel's CompreFace SDK, compreface-sdk 0.6.0, against a running server. Run by
tests/test_compreface.py with .venv-clients/bin/python (never imported by the tests):

    python compreface_client.py BASE_URL API_KEY PATHS_JSON   -> prints a JSON report
"""
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

from compreface import CompreFace

base, key, paths = urlsplit(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
domain, port = f"{base.scheme}://{base.hostname}", str(base.port)
options = {"limit": 0, "det_prob_threshold": 0.8, "prediction_count": 3, "face_plugins": "landmarks,calculator,age",
           "status": True}
server = CompreFace(domain, port, options)
recognition = server.init_face_recognition(key)
faces, subjects = recognition.get_face_collection(), recognition.get_subjects()
report = {"subject_add": subjects.add("Elton John"), "subject_add_again": subjects.add("Elton John"),
          "add": [faces.add(path, "Madonna") for path in paths["train"]],
          "add_bytes": faces.add(Path(paths["stranger"]).read_bytes(), "elton john"),   # any case: the same subject
          "add_group": faces.add(paths["group"], "Group"),
          "add_faceless": faces.add(paths["faceless"], "Nobody")}
report["list"] = faces.list()
report["recognize"] = recognition.recognize(paths["probe"])
report["recognize_group"] = recognition.recognize(paths["group"])
report["recognize_faceless"] = recognition.recognize(paths["faceless"])
report["verify_example"] = faces.verify(paths["probe"], report["add"][0]["image_id"])
report["subjects"] = subjects.list()
report["rename"] = subjects.update("Elton John", "Sir Elton")
report["rename_missing"] = subjects.update("Nobody At All", "Somebody")
report["subjects_renamed"] = subjects.list()
report["delete_one"] = faces.delete(report["add"][0]["image_id"])
report["delete_missing"] = faces.delete(report["add"][0]["image_id"])
report["delete_all"] = faces.delete_all("madonna")
report["detect"] = server.init_face_detection(key).detect(paths["group"])
verification = server.init_face_verification(key)
report["verify_same"] = verification.verify(paths["probe"], paths["train"][0])
report["verify_other"] = verification.verify(paths["probe"], paths["stranger"])
report["verify_group_source"] = verification.verify(paths["group"], paths["probe"])
report["wrong_key"] = CompreFace(domain, port).init_face_recognition("not-the-key").recognize(paths["probe"])
report["subject_delete"] = subjects.delete("Sir Elton")
report["subject_delete_missing"] = subjects.delete("Sir Elton")
report["subjects_delete_all"] = subjects.delete_all()
report["subjects_left"] = subjects.list()
print(json.dumps(report))
