"""The bridge's configuration (app/frigate/config.py), no services: file + flags, per camera,
and errors that say which key is wrong."""
import json

import pytest

from app.frigate.config import BridgeConfig, ConfigError, config_from

YAML = """
frigate_url: http://frigate:8971
frigate_user: bridge
frigate_password: secret
unknown_sub_label: unknown
default_camera:
  snapshot_attempts: 5
cameras:
  front_door:
    latest_attempts: 2
    min_face_area: 2500
    ignore_zones: [street]
  garage:
    enabled: false
"""


def test_a_yaml_file_with_cameras(tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text(YAML)
    config = config_from(path, frigate_url=None, mqtt_url="mqtt://broker:1883")
    assert config.frigate_url == "http://frigate:8971" and config.mqtt_url == "mqtt://broker:1883"
    assert config.camera("front_door").latest_attempts == 2 and config.camera("front_door").ignore_zones == ["street"]
    assert config.camera("front_door").snapshot_attempts == 3   # a listed camera starts from the defaults
    assert not config.camera("garage").enabled
    assert config.camera("elsewhere").snapshot_attempts == 5 and config.camera("elsewhere").enabled
    assert "secret" not in repr(config)


def test_a_json_file_and_flags_win(tmp_path):
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps({"double_take": True, "labels": ["person", "face"]}))
    config = config_from(path, double_take=False)
    assert config.double_take is False and config.labels == ["person", "face"]


def test_defaults_without_a_file():
    config = config_from(None)
    assert config == BridgeConfig() and config.double_take and config.unknown_sub_label == ""
    assert config.camera("any").snapshot_attempts == 3


@pytest.mark.parametrize("text, where", [
    ("cameras:\n  front:\n    snapshot_attempts: -1\n", "cameras.front.snapshot_attempts"),
    ("cameras:\n  front:\n    bogus: 1\n", "cameras.front.bogus"),
    ("cameras:\n  'a/b': {}\n", "cameras"),
    ("frigate_topic_prefix: 'a/#'\n", "frigate_topic_prefix"),
    ("unknwon_sub_label: x\n", "unknwon_sub_label"),
    ("max_events: 0\n", "max_events"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("cameras: [\n", "bridge.yaml"),
])
def test_errors_name_the_key(tmp_path, text, where):
    path = tmp_path / "bridge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=where.replace(".", r"\.").replace("[", r"\[")):
        config_from(path)


def test_an_empty_file_is_the_defaults(tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text("")
    assert config_from(path) == BridgeConfig()
