"""One MQTT connection per worker, that a request never waits on.

A recognition puts its event on a bounded queue (put_nowait: a full queue drops the message
and counts it); a dispatcher thread turns events into messages (app/mqtt/messages.py) and
hands them to paho-mqtt, whose own network thread writes them, reconnecting with backoff
(1 s doubling to 60 s). Events (QoS 0) that find the broker unreachable are dropped and
counted in /metrics (facerec_mqtt_dropped_total): a late "Ada is at the door" is worse than
none. Retained state and discovery configs (QoS 1) wait in paho's bounded queue and go out
on reconnection.

Availability with several workers and replicas. Every worker holds its own connection (its
own client id: two connections with one id would keep kicking each other off the broker)
and its own last will: "offline", retained, on <prefix>/available. A worker that dies
therefore marks the whole service offline, although others still run. So every worker also
subscribes to <prefix>/available, and when it reads "offline" while it is itself running, it
publishes "online" again at once: the topic reads "offline" only while no worker at all is
connected (the last one's will or its clean goodbye stands), and a worker that dies among
others shows as an "offline" blip of a few milliseconds. A lock orders a worker's own
answer before its goodbye, so a worker's last word is always "offline". The rejected
alternative, one bridge process tailing the Redis event stream, would be one more thing to
deploy and keep alive, and would publish late when Redis is slow.

Discovery configs are sent the first time this worker sees a camera or a person, again after
every reconnection, and when Home Assistant announces itself (<discovery>/status "online").
"""
import logging
import os
import queue
import socket
import threading
import time
import uuid
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from app import metrics
from app.mqtt.messages import Message, camera_discovery, event_messages, event_payload, person_discovery
from app.mqtt.visits import last_visitor_discovery, presence_discovery, visit_messages

log = logging.getLogger(__name__)
_STOP = object()
# Discovery configs this worker announces at most: camera ids come from clients, and every
# announced camera stays retained on the broker (events of more cameras are still published).
MAX_ANNOUNCED = 1000


class MqttPublisher:
    def __init__(self, url: str, prefix: str = "facerec", discovery: str = "homeassistant",
                 client_id: str = "", keepalive_s: int = 30, queue_size: int = 1000, tls_ca: str = "",
                 tls_insecure: bool = False, confidence=lambda distance: 0.0, frame_topics: bool = True,
                 presence_window_min: float = 10.0):
        parts = urlsplit(url)
        self.host, self.tls = parts.hostname or "", parts.scheme == "mqtts"   # MQTT_URL is validated: it has one
        self.port = parts.port or (8883 if self.tls else 1883)
        self.where = f"{parts.scheme}://{self.host}:{self.port}"   # for messages: no password
        self.prefix, self.discovery, self.keepalive_s = prefix, discovery, keepalive_s
        self.availability = f"{prefix}/available"
        self.confidence = confidence
        self.frame_topics, self.presence_window_min = frame_topics, presence_window_min
        self.queue: queue.Queue = queue.Queue(queue_size)
        self.cameras: set[str] = set()    # announced to Home Assistant by this worker
        self.people: set[str] = set()
        self.closing = False
        self._lock = threading.Lock()     # orders "online" answers before the goodbye
        self._counted_connected = False
        client_id = f"{client_id or prefix.replace('/', '-') + '-' + socket.gethostname()}-{os.getpid()}" \
                    f"-{uuid.uuid4().hex[:6]}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if parts.username:
            self.client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
        if self.tls:
            self.client.tls_set(ca_certs=tls_ca or None)
            self.client.tls_insecure_set(tls_insecure)
        self.client.will_set(self.availability, "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=60)
        self.client.max_queued_messages_set(queue_size)
        self.client.on_connect, self.client.on_disconnect = self._on_connect, self._on_disconnect
        self.client.on_message = self._on_message
        self.dispatcher = threading.Thread(target=self._dispatch, name="mqtt-dispatch", daemon=True)
        for reason in ("queue_full", "disconnected"):
            metrics.MQTT_DROPPED.labels(reason)

    def start(self) -> "MqttPublisher":
        """Connect in the background (a broker that is down is retried, never waited for)."""
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self.client.loop_start()
        self.dispatcher.start()
        return self

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

    def publish_event(self, event_id: str | None, camera_id: str | None, faces: list[dict]) -> None:
        """Queue one recognized frame (the event log's faces); never blocks. Frames without a face
        publish nothing."""
        if not faces or self.closing or not self.frame_topics:
            return
        self._queue((event_id, camera_id or "default", time.time(), faces))

    def publish_visit(self, camera_id: str, event: str, track: dict) -> None:
        """Queue a visit's news ("decided", "changed", "ended"; track: its public object)."""
        if not self.closing:
            self._queue(("visit", camera_id, event, track))

    def _queue(self, item) -> None:
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            metrics.MQTT_DROPPED.labels("queue_full").inc()

    def close(self, timeout_s: float = 2.0) -> None:
        """Say goodbye ("offline", retained; the other workers answer "online" if they run) and stop."""
        if self.closing:
            return
        self.closing = True
        try:
            self.queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            pass
        self.dispatcher.join(timeout=timeout_s)
        with self._lock:
            goodbye = self.client.publish(self.availability, "offline", qos=1, retain=True)
        if self.connected:
            try:
                goodbye.wait_for_publish(timeout=timeout_s)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self._count_connection(False)

    # --- paho's network thread ----------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.warning("MQTT broker %s refused the connection: %s", self.where, reason_code)
            return
        log.info("MQTT connected to %s", self.where)
        self._count_connection(True)
        with self._lock:
            if not self.closing:
                client.publish(self.availability, "online", qos=1, retain=True)
        client.subscribe([(self.availability, 1)] + ([(f"{self.discovery}/status", 1)] if self.discovery else []))
        self._announce_again()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._count_connection(False)
        if not self.closing:
            log.warning("MQTT connection to %s lost (%s); reconnecting", self.where, reason_code)

    def _on_message(self, client, userdata, message):
        if message.topic == self.availability and message.payload == b"offline":
            with self._lock:  # another worker's will or goodbye: this one still runs
                if not self.closing:
                    client.publish(self.availability, "online", qos=1, retain=True)
        elif message.topic == f"{self.discovery}/status" and message.payload == b"online":
            self._announce_again()  # Home Assistant (re)started

    def _count_connection(self, connected: bool) -> None:
        with self._lock:
            if connected != self._counted_connected:
                self._counted_connected = connected
                metrics.MQTT_CONNECTED.inc(1 if connected else -1)

    def _announce_again(self) -> None:
        try:
            self.queue.put_nowait("announce")
        except queue.Full:
            metrics.MQTT_DROPPED.labels("queue_full").inc()

    # --- the dispatcher thread ----------------------------------------------------------
    def _dispatch(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            try:
                for message in self._messages(item):
                    self._send(message)
            except Exception:  # noqa: BLE001 - one bad event must not end publishing for the worker
                log.exception("MQTT: could not publish %r", item)

    def _messages(self, item) -> list[Message]:
        if item == "announce":
            if not self.discovery:
                return []
            cameras = [m for c in sorted(self.cameras) for m in self._camera_discovery(c)]
            return cameras + [m for n in sorted(self.people) for m in self._person_discovery(n)]
        if item[0] == "visit":
            return self._visit_messages(*item[1:])
        event_id, camera_id, when, faces = item
        event = event_payload(event_id, camera_id, when, faces, confidence=self.confidence)
        announce = []
        if self.discovery and event["camera_id"] not in self.cameras and len(self.cameras) < MAX_ANNOUNCED:
            self.cameras.add(event["camera_id"])
            announce += self._camera_discovery(event["camera_id"])
        for name in event["names"]:
            if self.discovery and name not in self.people:
                self.people.add(name)
                announce += self._person_discovery(name)
        return announce + event_messages(self.prefix, event)

    def _person_discovery(self, name: str) -> list[Message]:
        return (person_discovery(self.discovery, self.prefix, name)
                + presence_discovery(self.discovery, self.prefix, name, self.presence_window_min))

    def _camera_discovery(self, camera_id: str) -> list[Message]:
        return camera_discovery(self.discovery, self.prefix, camera_id) + last_visitor_discovery(
            self.discovery, self.prefix, camera_id)

    def _visit_messages(self, camera_id: str, event: str, track: dict) -> list[Message]:
        announce = []
        if self.discovery and camera_id not in self.cameras and len(self.cameras) < MAX_ANNOUNCED:
            self.cameras.add(camera_id)
            announce += self._camera_discovery(camera_id)
        name = track["name"]
        if self.discovery and name is not None and name not in self.people:
            self.people.add(name)
            announce += self._person_discovery(name)
        return announce + visit_messages(self.prefix, camera_id, event, track)

    def _send(self, message: Message) -> None:
        if message.qos == 0 and not self.connected:
            metrics.MQTT_DROPPED.labels("disconnected").inc()
            return
        info = self.client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            metrics.MQTT_DROPPED.labels("queue_full").inc()
        elif info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and message.qos == 0:
            metrics.MQTT_DROPPED.labels("disconnected").inc()
        else:  # sent, or (QoS 1) kept by paho until the connection is back
            metrics.MQTT_PUBLISHED.inc()


class NoPublisher:
    """MQTT_URL is empty: events go nowhere."""

    def publish_event(self, event_id: str | None, camera_id: str | None, faces: list[dict]) -> None:
        pass

    def publish_visit(self, camera_id: str, event: str, track: dict) -> None:
        pass

    def close(self, timeout_s: float = 2.0) -> None:
        pass
