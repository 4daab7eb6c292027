"""The gRPC backend (through the TF Serving stand-in) and the in-process backend agree, and
gRPC failures become the app's own errors with messages naming the model."""
import time

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

from app.errors import ModelBadInput, ModelNotFound, ModelTimeout, ModelUnavailable
from app.model_client import GrpcModel, LocalModel, channel_for
from bench.frames import encode_jpeg, three_face_frame
from scripts.net import free_port


def test_grpc_and_local_give_the_same_faces_and_embeddings(local_pipeline, grpc_pipeline):
    data = encode_jpeg(three_face_frame())
    local, remote = local_pipeline.analyze(data), grpc_pipeline.analyze(data)
    assert len(local.faces) == len(remote.faces) == 3
    for a, b in zip(local.faces, remote.faces):
        np.testing.assert_allclose(a.box, b.box, atol=1e-4)
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-4)
        assert abs(a.score - b.score) < 1e-6
        np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-5)
    assert set(remote.timing_ms) == {"decode", "detect", "embed", "total"}


def test_model_metadata_and_status_answer_like_tf_serving(model_server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel_for(model_server))
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "facenet"
    response = stub.GetModelMetadata(request, timeout=5)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert "serving_default" in signatures.signature_def
    assert set(signatures.signature_def["serving_default"].inputs) == {"images"}
    assert response.model_spec.version.value == 1
    assert GrpcModel("mtcnn", model_server).ready() and GrpcModel("facenet", model_server).ready()


def test_server_down_is_model_unavailable_after_retries():
    addr = f"127.0.0.1:{free_port()}"  # nothing listens there
    model = GrpcModel("facenet", addr, timeout_s=3.0, retries=2, backoff_s=0.2)
    start = time.monotonic()
    with pytest.raises(ModelUnavailable, match=f"model 'facenet' at {addr} is unreachable"):
        model.predict({"images": np.zeros((1, 160, 160, 3), np.uint8)})
    assert time.monotonic() - start >= 0.2 + 0.4  # two backoffs: it retried


def test_unknown_model_is_not_found_and_not_retried(model_server):
    model = GrpcModel("arcface", model_server, timeout_s=5.0, retries=3, backoff_s=1.0)
    start = time.monotonic()
    with pytest.raises(ModelNotFound, match="does not serve model 'arcface'"):
        model.predict({"images": np.zeros((1, 160, 160, 3), np.uint8)})
    with pytest.raises(ModelNotFound):
        model.ready()
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("inputs, message", [
    ({"images": np.zeros((1, 160, 160, 3), np.float32)}, "is float32"),
    ({"images": np.zeros((1, 100, 100, 3), np.uint8)}, r"expects uint8\[None, 160, 160, 3\]"),
    ({"pictures": np.zeros((1, 160, 160, 3), np.uint8)}, "expected inputs"),
])
def test_a_bad_tensor_is_model_bad_input(model_server, inputs, message):
    with pytest.raises(ModelBadInput, match=message) as info:
        GrpcModel("facenet", model_server).predict(inputs)
    assert info.value.model == "facenet" and info.value.status == 502


def test_a_slow_answer_hits_the_deadline(model_server):
    model = GrpcModel("facenet", model_server, timeout_s=0.01)
    with pytest.raises(ModelTimeout, match="did not answer within 0.01 s"):
        model.predict({"images": np.zeros((32, 160, 160, 3), np.uint8)})


def test_one_channel_per_address_and_process(model_server):
    assert channel_for(model_server) is channel_for(model_server)


def test_local_backend_errors(local_pipeline, tmp_path):
    with pytest.raises(ModelNotFound, match="model 'facenet' is not exported"):
        LocalModel("facenet", tmp_path)
    with pytest.raises(ModelBadInput, match="model 'facenet' refused its input"):
        local_pipeline.embedder.model.predict({"images": np.zeros((1, 100, 100, 3), np.uint8)})


def test_raw_grpc_status_codes_match_tf_serving(model_server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel_for(model_server))
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelMetadata(request, timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Servable not found for request: Latest(nope)" in info.value.details()
