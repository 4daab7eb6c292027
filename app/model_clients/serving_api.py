"""TensorFlow Serving's messages and method paths without TensorFlow: the wheels of
`tensorflow-serving-api` ship generated code that imports TensorFlow (~300 MB per worker), so
the app loads its own wire-compatible subset (protos/*.proto, compiled by
scripts/compile_protos.py into protos/descriptors.pbtxt).

The descriptors go into a private pool: the same full names (tensorflow.serving.PredictRequest)
may already be in protobuf's default pool when the official stubs are loaded in the same process
(the model-server stand-in, the tests)."""
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

DESCRIPTORS = Path(__file__).parent / "protos" / "descriptors.pbtxt"


@dataclass(frozen=True)
class ServingApi:
    """The message classes and the gRPC method paths of PredictionService and ModelService (the
    classes are made at run time from the descriptors, so they are typed Any)."""
    TensorProto: Any
    TensorShapeProto: Any
    PredictRequest: Any
    PredictResponse: Any
    GetModelStatusRequest: Any
    GetModelStatusResponse: Any
    ModelVersionStatus: Any
    predict_path: str
    model_status_path: str


@cache
def serving_api() -> ServingApi:
    """The messages, loaded once per process on first use."""
    files = text_format.Parse(DESCRIPTORS.read_text(), descriptor_pb2.FileDescriptorSet())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)

    def message(name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))

    def path(service: str, method: str) -> str:
        return f"/{pool.FindServiceByName(service).full_name}/{method}"

    return ServingApi(
        TensorProto=message("tensorflow.TensorProto"), TensorShapeProto=message("tensorflow.TensorShapeProto"),
        PredictRequest=message("tensorflow.serving.PredictRequest"),
        PredictResponse=message("tensorflow.serving.PredictResponse"),
        GetModelStatusRequest=message("tensorflow.serving.GetModelStatusRequest"),
        GetModelStatusResponse=message("tensorflow.serving.GetModelStatusResponse"),
        ModelVersionStatus=message("tensorflow.serving.ModelVersionStatus"),
        predict_path=path("tensorflow.serving.PredictionService", "Predict"),
        model_status_path=path("tensorflow.serving.ModelService", "GetModelStatus"))
