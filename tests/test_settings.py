import pytest

from config import SettingsError, load_settings


def test_defaults_are_valid():
    settings = load_settings()
    assert settings.model_backend in ("local", "grpc")
    assert settings.mtcnn_thresholds == (0.6, 0.7, 0.8)


def test_values_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MTCNN_THRESHOLDS", "0.5,0.6,0.7")
    monkeypatch.setenv("MODEL_BACKEND", "grpc")
    monkeypatch.setenv("GRPC_TIMEOUT_S", "2.5")
    settings = load_settings()
    assert settings.mtcnn_thresholds == (0.5, 0.6, 0.7)
    assert settings.model_backend == "grpc"
    assert settings.grpc_timeout_s == 2.5


@pytest.mark.parametrize("variable, value", [
    ("MODEL_BACKEND", "tfserving"),
    ("MTCNN_FACTOR", "1.5"),
    ("MTCNN_THRESHOLDS", "0.6,0.7"),
    ("MTCNN_THRESHOLDS", "0.6,0.7,2"),
    ("GRPC_TIMEOUT_S", "soon"),
    ("FACE_CROP", "box+ten%"),
    ("MATCH_THRESHOLD", "-1"),
])
def test_a_bad_value_names_its_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()
