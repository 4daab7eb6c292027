"""The app's own TF Serving messages (app/model_clients/protos, loaded without TensorFlow) are
TensorFlow Serving's on the wire: the same fields, numbers and method paths as the official
`tensorflow-serving-api` stubs, and byte for byte the same requests and readings of responses
for every dtype and shape the models take and give. And the API worker on MODEL_BACKEND=grpc
loads no TensorFlow, Keras, h5py, scikit-learn, SciPy or dlib."""
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2, predict_pb2, prediction_service_pb2

from app.model_clients.serving_api import serving_api
from app.model_clients.tensors import DTYPES, ndarray, tensor_proto
from scripts.pypi_assets import ROOT

API = serving_api()
# (official message, ours): every field of ours must be the official field of that number
PAIRS = [(tensor_pb2.TensorProto, API.TensorProto), (predict_pb2.PredictRequest, API.PredictRequest),
         (predict_pb2.PredictResponse, API.PredictResponse),
         (get_model_status_pb2.GetModelStatusRequest, API.GetModelStatusRequest),
         (get_model_status_pb2.GetModelStatusResponse, API.GetModelStatusResponse)]

# what the detectors and embedders send (frames, crops, scalar and vector parameters) and what
# they get back (boxes, scores, landmarks, embeddings; none found = zero rows), and every other dtype
ARRAYS = {
    "frame uint8": np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8),
    "crops uint8": np.random.default_rng(1).integers(0, 256, (2, 160, 160, 3), dtype=np.uint8),
    "scalar float32": np.float32(20.0),
    "thresholds float32": np.asarray([0.6, 0.7, 0.8], np.float32),
    "one box float32": np.asarray([[1.5, 2.5, 30.25, 40.0]], np.float32),
    "no boxes float32": np.zeros((0, 4), np.float32),
    "no landmarks float32": np.zeros((0, 5, 2), np.float32),
    "embeddings float32": np.random.default_rng(2).standard_normal((3, 512)).astype(np.float32),
    "one value float32": np.asarray([0.25], np.float32),
    **{f"{np.dtype(dtype).name} {shape}": (np.arange(int(np.prod(shape))) % 7).astype(dtype).reshape(shape)
       for dtype, _ in DTYPES.values() for shape in [(), (1,), (2, 3), (0, 2)]},
}


def test_committed_descriptors_are_the_compiled_protos():
    """protoc in a process of its own: grpc_tools' protobuf and TensorFlow's crash one process."""
    done = subprocess.run([sys.executable, "-m", "scripts.compile_protos", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("official, ours", PAIRS, ids=lambda c: c.DESCRIPTOR.full_name)
def test_our_messages_have_the_official_names_and_fields(official, ours):
    def fields(descriptor, seen=()):
        for field in descriptor.fields:
            yield descriptor.full_name, field
            if field.message_type is not None and field.message_type.full_name not in seen:
                yield from fields(field.message_type, seen + (descriptor.full_name,))

    assert ours.DESCRIPTOR.full_name == official.DESCRIPTOR.full_name
    checked = 0
    for owner, field in fields(ours.DESCRIPTOR):
        theirs = official.DESCRIPTOR.file.pool.FindMessageTypeByName(owner).fields_by_number[field.number]
        assert (field.name, field.type, field.is_repeated, field.is_packed) == \
               (theirs.name, theirs.type, theirs.is_repeated, theirs.is_packed), f"{owner}.{field.name}"
        if field.enum_type is not None:  # every value of ours means the same to TensorFlow
            assert {v.name: v.number for v in field.enum_type.values}.items() <= \
                   {v.name: v.number for v in theirs.enum_type.values}.items()
        checked += 1
    assert checked >= len(ours.DESCRIPTOR.fields)


def test_method_paths_are_tf_servings():
    services = {s.name: s for s in (prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"],
                                    model_service_pb2.DESCRIPTOR.services_by_name["ModelService"])}
    assert API.predict_path == f"/{services['PredictionService'].full_name}/Predict" \
        == "/tensorflow.serving.PredictionService/Predict"
    assert API.model_status_path == f"/{services['ModelService'].full_name}/GetModelStatus"


@pytest.mark.parametrize("name", ARRAYS)
def test_a_tensor_is_sent_byte_for_byte_as_tensorflow_sends_it(name):
    array = ARRAYS[name]
    assert tensor_proto(array, API.TensorProto).SerializeToString() == \
        tf.make_tensor_proto(array).SerializeToString()


def test_a_predict_request_is_byte_for_byte_the_official_one():
    inputs = {"image": ARRAYS["frame uint8"], "min_size": ARRAYS["scalar float32"],
              "thresholds": ARRAYS["thresholds float32"]}
    official = predict_pb2.PredictRequest()
    official.model_spec.name, official.model_spec.signature_name = "mtcnn", "serving_default"
    ours = API.PredictRequest(model_spec={"name": "mtcnn", "signature_name": "serving_default"})
    for key, value in inputs.items():
        official.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        ours.inputs[key].CopyFrom(tensor_proto(value, API.TensorProto))
    assert ours.SerializeToString(deterministic=True) == official.SerializeToString(deterministic=True)


def typed_values(array):
    """The TensorProto TF Serving answers by default (values in the typed field, not raw bytes)."""
    proto = tensor_pb2.TensorProto(dtype=tf.as_dtype(array.dtype).as_datatype_enum,
                                   tensor_shape=tf.TensorShape(array.shape).as_proto())
    field = DTYPES[proto.dtype][1]
    values = array.reshape(-1).view(np.uint16) if array.dtype == np.float16 else array.reshape(-1)
    getattr(proto, field).extend(values.tolist())
    return proto


@pytest.mark.parametrize("name", ARRAYS)
@pytest.mark.parametrize("form", ["tensor_content", "typed values", "one value for all"])
def test_a_response_is_read_as_tensorflow_reads_it(name, form):
    array = ARRAYS[name]
    if form == "one value for all":  # TF Serving's short form: the last value repeats
        array = np.full(array.shape, array.reshape(-1)[:1].item() if array.size else 0, array.dtype)
        proto = typed_values(array.reshape(-1)[:1])
        proto.tensor_shape.CopyFrom(tf.TensorShape(array.shape).as_proto())
    else:
        proto = tf.make_tensor_proto(array) if form == "tensor_content" else typed_values(array)
    official = predict_pb2.PredictResponse()
    official.outputs["out"].CopyFrom(proto)
    ours = API.PredictResponse.FromString(official.SerializeToString())
    got, expected = ndarray(ours.outputs["out"]), tf.make_ndarray(proto)
    assert got.dtype == expected.dtype == array.dtype and got.shape == expected.shape == array.shape
    np.testing.assert_array_equal(got, expected)
    got[...] = 0  # a writable array of its own, as make_ndarray's


def test_model_status_round_trips_with_the_official_messages():
    official = get_model_status_pb2.GetModelStatusRequest()
    official.model_spec.name = "facenet"
    assert API.GetModelStatusRequest(model_spec={"name": "facenet"}).SerializeToString() == \
        official.SerializeToString()
    response = get_model_status_pb2.GetModelStatusResponse()
    status = response.model_version_status.add(version=3, state=get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    status.status.error_message = "ok"  # a field we do not declare is skipped, not an error
    ours = API.GetModelStatusResponse.FromString(response.SerializeToString())
    assert [(s.version, s.state) for s in ours.model_version_status] == [(3, API.ModelVersionStatus.AVAILABLE)]


def test_an_unknown_dtype_is_refused_by_name():
    with pytest.raises(TypeError, match="complex64"):
        tensor_proto(np.zeros(2, np.complex64), API.TensorProto)
    with pytest.raises(TypeError, match="dtype 8"):
        ndarray(API.TensorProto(dtype=8))


HEAVY = ["tensorflow", "tensorflow_serving", "keras", "tf_keras", "h5py", "sklearn", "scipy", "dlib", "onnx"]


def test_the_grpc_worker_loads_no_tensorflow_or_other_heavy_library(tmp_path):
    """The app factory on MODEL_BACKEND=grpc, as a Gunicorn worker runs it (Redis need not answer
    for the app to be created), then one message built and read: none of HEAVY is loaded."""
    code = (
        "import json, sys\n"
        "import numpy as np\n"
        "from app import create_app\n"
        "from app.model_clients.serving_api import serving_api\n"
        "from app.model_clients.tensors import ndarray, tensor_proto\n"
        "create_app()\n"
        "api = serving_api()\n"
        "ndarray(tensor_proto(np.zeros((2, 3), np.float32), api.TensorProto))\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n")
    env = {"PATH": "/usr/bin:/bin", "MODEL_BACKEND": "grpc", "REDIS_URL": "redis://127.0.0.1:9/0",
           "GALLERY_CACHE_DIR": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert {"app", "flask", "grpc", "google"} <= loaded  # it did load the app
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
