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
    ("BIND", "localhost"),
    ("BIND", "0.0.0.0:5000 extra"),
    ("WEB_CONCURRENCY", "0"),
    ("WEB_CONCURRENCY", "two"),
    ("THREADS", "-4"),
    ("GRPC_RETRIES", "5"),
    ("MQTT_URL", "http://broker:1883"),
    ("MQTT_URL", "mqtt://"),
    ("MQTT_TOPIC_PREFIX", "facerec/#"),
    ("MQTT_TOPIC_PREFIX", "/facerec"),
    ("MQTT_DISCOVERY_PREFIX", "home assistant"),
    ("MQTT_KEEPALIVE_S", "1"),
    ("EMBEDDER", "arcface"),
    ("PREPROCESSOR", "haar"),
    ("YUNET_SCORE_THRESHOLD", "1.5"),
    ("YUNET_ONET_SCORE_THRESHOLD", "0"),
])
def test_a_bad_value_names_its_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_gunicorn_refuses_a_bad_bind_naming_it(tmp_path):
    """The Gunicorn master loads the same settings: a bad value stops it, named."""
    import os
    import subprocess
    import sys
    env = {**os.environ, "THREADS": "lots", "BIND": "nowhere", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--check-config",
                           "app:create_app()"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode != 0 and "THREADS: " in done.stderr and "BIND: " in done.stderr


def test_settings_give_gunicorn_its_values(monkeypatch):
    monkeypatch.setenv("BIND", "127.0.0.1:5055")
    monkeypatch.setenv("THREADS", "8")
    settings = load_settings()
    assert (settings.bind, settings.threads, settings.web_concurrency) == ("127.0.0.1:5055", 8, 2)
    assert str(settings.face_crop) == "box+10%" and settings.face_crop.fraction == 0.1


def test_the_match_threshold_follows_the_embedder_unless_set(monkeypatch):
    """Distances of different networks have different scales: each EMBEDDER has its own
    default (measured at zero false accepts, docs/models.md, Accuracy); MATCH_THRESHOLD overrides it."""
    from config.settings import DEFAULT_MATCH_THRESHOLDS
    assert load_settings().embedder == "facenet+sface"
    for embedder, threshold in DEFAULT_MATCH_THRESHOLDS.items():
        monkeypatch.setenv("EMBEDDER", embedder)
        assert load_settings().match_threshold == threshold
    monkeypatch.setenv("MATCH_THRESHOLD", "0.9")
    assert load_settings().match_threshold == 0.9
    assert load_settings(preprocessor="yunet").yunet_score_threshold == 0.7
    assert load_settings(preprocessor="yunet+onet").yunet_onet_score_threshold == 0.3


def test_the_visits_mean_face_follows_the_embedder_unless_set(monkeypatch):
    """VISIT_MEAN_FACES is on only where the visits benchmark found it paid (dlib+sface)."""
    from config.settings import DEFAULT_MATCH_THRESHOLDS, DEFAULT_VISIT_MEAN_FACES
    assert load_settings().visit_mean_faces == 0
    assert set(DEFAULT_VISIT_MEAN_FACES) == set(DEFAULT_MATCH_THRESHOLDS)
    for embedder, faces in DEFAULT_VISIT_MEAN_FACES.items():
        monkeypatch.setenv("EMBEDDER", embedder)
        assert load_settings().visit_mean_faces == faces
    monkeypatch.setenv("EMBEDDER", "dlib+sface")
    assert load_settings().visit_mean_faces == 4
    monkeypatch.setenv("VISIT_MEAN_FACES", "0")
    assert load_settings().visit_mean_faces == 0
    monkeypatch.setenv("EMBEDDER", "facenet+sface")
    monkeypatch.setenv("VISIT_MEAN_FACES", "5")
    assert load_settings().visit_mean_faces == 5


def test_the_pipeline_fields_are_the_settings_the_pipeline_reads():
    """PIPELINE_FIELDS (which apps may share a loaded pipeline) is what app/pipeline and
    app/model_clients read from the settings: a setting added there is a pipeline field."""
    import ast

    from config.settings import PIPELINE_FIELDS, ROOT, Settings
    read = set()
    for path in [*(ROOT / "app" / "pipeline").glob("*.py"), *(ROOT / "app" / "model_clients").glob("*.py")]:
        read |= {node.attr for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Attribute)
                 and isinstance(node.value, ast.Name) and node.value.id == "settings"}
    assert read == PIPELINE_FIELDS and PIPELINE_FIELDS <= set(Settings.model_fields)


def test_a_loaded_pipeline_is_shared_only_by_settings_that_describe_it():
    from app.pipeline import FacePipeline
    from config.settings import PIPELINE_FIELDS, pipeline_values
    settings = load_settings()
    assert list(pipeline_values(settings)) == sorted(PIPELINE_FIELDS)
    pipeline = FacePipeline(None, None, settings.max_image_pixels)
    assert not pipeline.fits(settings)  # not built from settings: never shared
    pipeline.built_from = pipeline_values(settings)
    assert pipeline.fits(settings) and pipeline.fits(load_settings(redis_prefix="other:", top_k=9))
    for other in ({"embedder": "sface"}, {"preprocessor": "yunet"}, {"grpc_timeout_s": 20},
                  {"max_request_pixels": 5_000_000}, {"mtcnn_addr": "10.0.0.1:8500"}):
        assert not pipeline.fits(load_settings(**other)), other
