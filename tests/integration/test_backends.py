"""The gRPC backend (through the TF Serving stand-in) and the in-process backend agree, and
gRPC failures become the app's own errors with messages naming the model. Retries are gRPC's
own retry policy: UNAVAILABLE is retried within the deadline, nothing else is."""
import threading
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from app.errors import ModelBadInput, ModelNotFound, ModelTimeout, ModelUnavailable
from app.model_clients import ModelChannels, open_model
from app.model_clients.grpc_model import GrpcModel, model_channel
from app.model_clients.local_model import LocalModel
from app.pipeline import Stopwatch
from config import load_settings
from samples.photos import encode_jpeg, three_face_frame
from scripts.processes import free_port


def test_grpc_and_local_give_the_same_faces_and_embeddings(local_pipeline, grpc_pipeline):
    data = encode_jpeg(three_face_frame())
    stopwatch = Stopwatch()
    local, remote = local_pipeline.analyze(data), grpc_pipeline.analyze(data, stopwatch=stopwatch)
    assert len(local.faces) == len(remote.faces) == 3
    for a, b in zip(local.faces, remote.faces):
        np.testing.assert_allclose(a.box, b.box, atol=1e-4)
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-4)
        assert abs(a.score - b.score) < 1e-6
        np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-5)
    assert set(stopwatch.finish()) == {"decode", "detect", "embed", "total"}


def test_model_metadata_and_status_answer_like_tf_serving(model_server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(model_channel(model_server))
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "facenet"
    response = stub.GetModelMetadata(request, timeout=5)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert "serving_default" in signatures.signature_def
    assert set(signatures.signature_def["serving_default"].inputs) == {"images"}
    assert response.model_spec.version.value == 1
    assert GrpcModel("mtcnn", model_server).ready() and GrpcModel("facenet", model_server).ready()


class FlakyPredictions(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Answers `code` to the first `failures` Predict calls, then an empty embedding."""

    def __init__(self, failures, code=grpc.StatusCode.UNAVAILABLE):
        self.failures, self.code, self.calls = failures, code, 0
        self.lock = threading.Lock()

    def Predict(self, request, context):
        with self.lock:
            self.calls += 1
            fail = self.calls <= self.failures
        if fail:
            context.abort(self.code, f"attempt {self.calls} refused on purpose")
        response = predict_pb2.PredictResponse()
        response.outputs["embeddings"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 128), np.float32)))
        return response


@pytest.fixture
def flaky_server():
    servers = []

    def start(failures, code=grpc.StatusCode.UNAVAILABLE):
        servicer = FlakyPredictions(failures, code)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return servicer, f"127.0.0.1:{port}"
    yield start
    for server in servers:
        server.stop(0)


def test_unavailable_is_retried_by_grpc_within_the_deadline(flaky_server):
    servicer, addr = flaky_server(failures=2)
    model = GrpcModel("facenet", addr, model_channel(addr, retries=2), timeout_s=5.0)
    assert model.predict({"images": np.zeros((1, 160, 160, 3), np.uint8)})["embeddings"].shape == (1, 128)
    assert servicer.calls == 3  # two refusals, then the answer: one call for the app


def test_retries_run_out_as_model_unavailable(flaky_server):
    servicer, addr = flaky_server(failures=10)
    model = GrpcModel("facenet", addr, model_channel(addr, retries=2), timeout_s=5.0)
    with pytest.raises(ModelUnavailable, match=f"model 'facenet' at {addr} is unreachable"):
        model.predict({"images": np.zeros((1, 160, 160, 3), np.uint8)})
    assert servicer.calls == 3


def test_other_errors_are_not_retried(flaky_server):
    servicer, addr = flaky_server(failures=10, code=grpc.StatusCode.INVALID_ARGUMENT)
    model = GrpcModel("facenet", addr, model_channel(addr, retries=4), timeout_s=5.0)
    with pytest.raises(ModelBadInput):
        model.predict({"images": np.zeros((1, 160, 160, 3), np.uint8)})
    assert servicer.calls == 1


def test_server_down_is_model_unavailable():
    addr = f"127.0.0.1:{free_port()}"  # nothing listens there
    model = GrpcModel("facenet", addr, model_channel(addr, retries=2), timeout_s=3.0)
    with pytest.raises(ModelUnavailable, match=f"model 'facenet' at {addr} is unreachable"):
        model.predict({"images": np.zeros((1, 160, 160, 3), np.uint8)})


def test_unknown_model_is_not_found(model_server):
    model = GrpcModel("arcface", model_server, model_channel(model_server, retries=3))
    with pytest.raises(ModelNotFound, match="does not serve model 'arcface'"):
        model.predict({"images": np.zeros((1, 160, 160, 3), np.uint8)})
    with pytest.raises(ModelNotFound):
        model.ready()


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


def test_models_on_one_address_share_the_workers_channel(model_server):
    settings = load_settings(model_backend="grpc", mtcnn_addr=model_server, facenet_addr=model_server)
    channels = ModelChannels(settings.grpc_retries)
    mtcnn, facenet = open_model(settings, "mtcnn", channels), open_model(settings, "facenet", channels)
    assert mtcnn.ready() and facenet.ready()
    assert len(channels._channels) == 1 and channels.for_address(model_server) is channels.for_address(model_server)
    channels.close()


def test_local_backend_errors(embedding_networks, tmp_path):
    with pytest.raises(ModelNotFound, match="model 'facenet' is not exported"):
        LocalModel("facenet", tmp_path)
    with pytest.raises(ModelBadInput, match="model 'facenet' refused its input"):
        embedding_networks["facenet"].model.predict({"images": np.zeros((1, 100, 100, 3), np.uint8)})


def test_raw_grpc_status_codes_match_tf_serving(model_server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(model_channel(model_server))
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelMetadata(request, timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Servable not found for request: Latest(nope)" in info.value.details()
