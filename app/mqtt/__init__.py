"""Recognition events over MQTT, with Home Assistant discovery: `messages` says what is
published where, `publisher` holds each worker's connection (never waited on by a request).
Off while MQTT_URL is empty."""
from collections.abc import Callable

from app.mqtt.publisher import MqttPublisher, NoPublisher
from config import Settings

__all__ = ["MqttPublisher", "NoPublisher", "build_publisher"]


def build_publisher(settings: Settings, confidence: Callable[[float], float]) -> MqttPublisher | NoPublisher:
    """This worker's publisher, connecting in the background; NoPublisher when MQTT is off."""
    if not settings.mqtt_url:
        return NoPublisher()
    return MqttPublisher(settings.mqtt_url, settings.mqtt_topic_prefix, settings.mqtt_discovery_prefix,
                         settings.mqtt_client_id, settings.mqtt_keepalive_s, settings.mqtt_queue_size,
                         settings.mqtt_tls_ca, settings.mqtt_tls_insecure, confidence, settings.mqtt_frame_topics,
                         settings.presence_window_min).start()
