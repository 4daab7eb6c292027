"""Home Assistant's DeepStack client, deepstack-python 0.9, against a running server. Run by
tests/test_deepstack.py with .venv-clients/bin/python (never imported by the tests):

    python deepstack_client.py HOST PORT API_KEY PATHS_JSON   -> prints a JSON report
"""
import json
import sys
from pathlib import Path

from deepstack.core import DeepstackException, DeepstackFace, get_recognized_faces

host, port, key, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
face = DeepstackFace(ip=host, port=port, api_key=key, timeout=60)   # min_confidence: its default 0.45
read = lambda name: Path(paths[name]).read_bytes()  # noqa: E731
report = {"register": [face.register("Madonna", Path(p).read_bytes()) for p in paths["train"]],
          "faces": face.get_registered_faces()}
report["recognize"] = face.recognize(read("probe"))
report["recognized"] = get_recognized_faces(report["recognize"])
report["stranger"] = face.recognize(read("stranger"))
report["group"] = face.recognize(read("group"))
report["detect"] = face.detect(read("group"))
report["no_face"] = face.recognize(read("faceless"))
try:
    DeepstackFace(ip=host, port=port, api_key="not-the-key", timeout=60).recognize(read("probe"))
    report["wrong_key"] = "accepted"
except DeepstackException as e:
    report["wrong_key"] = str(e)
print(json.dumps(report))
