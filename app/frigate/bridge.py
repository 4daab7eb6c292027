"""The bridge process: one MQTT connection to the broker Frigate publishes to, a bounded queue
of Frigate events, a pool of VisitWorkers (app/frigate/visit.py), and Double Take's topics
published on the same connection.

paho's network thread only parses and queues (never waits on HTTP); a dispatcher thread hands
each new event id to a worker, and a later message of a running event updates it (its end, its
zones). An event is worked once: its id stays in a bounded set of the events already done.
Malformed messages are logged and skipped. The broker going away is paho's to reconnect (1 s
doubling to 30 s); subscriptions and "online" are renewed on every connection."""
import logging
import queue
import threading
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from app.frigate.config import BridgeConfig
from app.frigate.doubletake import Message, Outcome, outcome_messages, reset_messages
from app.frigate.http import FaceServer, FrigateApi
from app.frigate.messages import FrigateEvent, Malformed, parse_event, parse_object_update
from app.frigate.visit import Visit, VisitWorker

log = logging.getLogger(__name__)
AVAILABLE = "double-take/available"
DONE_KEPT = 10_000   # event ids remembered as worked, so late updates do not start them again


def wanted(event: FrigateEvent, config: BridgeConfig) -> str | None:
    """Why this event is not worked (None: it is)."""
    camera = config.camera(event.camera)
    if not camera.enabled:
        return f"camera {event.camera} is off"
    if event.label not in config.labels:
        return f"label {event.label} is not looked at"
    if event.false_positive:
        return "a false positive"
    if event.area < camera.min_person_area:
        return f"object area {event.area:.0f} < {camera.min_person_area}"
    ignored = set(event.current_zones) & set(camera.ignore_zones)
    if ignored:
        return f"in ignored zone {sorted(ignored)[0]}"
    return None


class FrigateBridge:
    def __init__(self, config: BridgeConfig):
        self.config = config
        self.stop = threading.Event()
        self.counts: Counter = Counter()
        self._lock = threading.Lock()
        self.active: dict[str, Visit] = {}
        self.done: OrderedDict[str, None] = OrderedDict()
        self.queue: queue.Queue = queue.Queue(config.queue_size)
        self.slots = threading.Semaphore(config.max_events)
        self.pool = ThreadPoolExecutor(config.max_events, thread_name_prefix="frigate-event")
        self.resets: dict[str, threading.Timer] = {}
        common = {"timeout_s": config.timeout_s, "retry_for_s": config.retry_for_s, "stop": self.stop}
        self.frigate = FrigateApi(config.frigate_url, config.frigate_user, config.frigate_password,
                                  config.frigate_token, **common)
        self.server = FaceServer(config.server_url, config.api_key, **common)
        self.worker = VisitWorker(config, self.frigate, self.server, self.stop, self._publish_outcome, self._count)
        self.client = self._client()
        self.dispatcher = threading.Thread(target=self._dispatch, name="frigate-dispatch", daemon=True)

    def _client(self) -> mqtt.Client:
        parts = urlsplit(self.config.mqtt_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if parts.username:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
        if parts.scheme == "mqtts":
            client.tls_set()
        if self.config.double_take:
            client.will_set(AVAILABLE, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect, client.on_disconnect, client.on_message = self._on_connect, self._on_disconnect, \
            self._on_message
        return client

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    # --- lifecycle --------------------------------------------------------------------
    def start(self) -> "FrigateBridge":
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self.dispatcher.start()
        log.info("Frigate bridge: broker %s:%s, Frigate %s, server %s", self.host, self.port,
                 self.config.frigate_url, self.config.server_url)
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        self.stop.set()
        try:
            self.queue.put_nowait(None)   # wakes the dispatcher (a full queue: it sees `stop` at its next event)
        except queue.Full:
            pass
        self.dispatcher.join(timeout=timeout_s)
        self.pool.shutdown(wait=True, cancel_futures=True)
        for timer in list(self.resets.values()):
            timer.cancel()
        if self.config.double_take and self.client.is_connected():
            self.client.publish(AVAILABLE, "offline", qos=1, retain=True).wait_for_publish(timeout=timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

    # --- paho's network thread ----------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.warning("the MQTT broker refused the connection: %s", reason_code)
            return
        prefix = self.config.frigate_topic_prefix
        client.subscribe([(f"{prefix}/events", 1), (f"{prefix}/tracked_object_update", 1)])
        if self.config.double_take:
            client.publish("double-take/errors", None)
            client.publish(AVAILABLE, "online", qos=1, retain=True)
        self._count("connections")
        log.info("MQTT connected; subscribed to %s/events and %s/tracked_object_update", prefix, prefix)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if not self.stop.is_set():
            log.warning("MQTT connection lost (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message):
        self._count("messages")
        try:
            if message.topic.endswith("/tracked_object_update"):
                update = parse_object_update(message.payload, self.config.max_message_bytes)
                if update.type == "face":   # Frigate's own face recognition is on: it writes sub_labels too
                    self._count("frigate_face_updates")
                    log.debug("Frigate's face recognition named %s on %s: %s", update.id, update.camera, update.name)
                return
            event = parse_event(message.payload, self.config.max_message_bytes)
        except Malformed as e:
            self._count("malformed")
            log.warning("skipped a malformed message on %s: %s", message.topic, e)
            return
        except Exception:   # a bug must cost one message, not paho's network thread (and with it the bridge)
            self._count("malformed")
            log.exception("skipped a message on %s that could not be read", message.topic)
            return
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self._count("dropped")
            log.error("event queue full (%d): dropped %s %s", self.config.queue_size, event.type, event.id)

    # --- the dispatcher thread ----------------------------------------------------------
    def _dispatch(self) -> None:
        while not self.stop.is_set():
            event = self.queue.get()
            if event is None:
                return
            with self._lock:
                visit = self.active.get(event.id)
                if visit is not None:
                    visit.event = event
                    if event.type == "end":
                        visit.ended.set()
                    continue
                if event.id in self.done or event.type == "end":
                    continue
            why = wanted(event, self.config)
            if why:
                log.debug("event %s on %s not worked: %s", event.id, event.camera, why)
                continue
            visit = Visit(event)
            with self._lock:
                self.active[event.id] = visit
            self.slots.acquire()
            if self.stop.is_set():
                return
            self._count("events")
            self.pool.submit(self._work, visit)

    def _work(self, visit: Visit) -> None:
        try:
            self.worker.run(visit)
        finally:
            with self._lock:
                self.active.pop(visit.event.id, None)
                self.done[visit.event.id] = None
                while len(self.done) > DONE_KEPT:
                    self.done.popitem(last=False)
            self.slots.release()

    # --- Double Take's contract -----------------------------------------------------------
    def _send(self, messages: list[Message]) -> None:
        for message in messages:
            self.client.publish(message.topic, message.payload, qos=1 if message.retain else 0, retain=message.retain)

    def _publish_outcome(self, outcome: Outcome) -> None:
        if not self.config.double_take or not outcome.attempts:
            return
        c = self.config
        self._send(outcome_messages(outcome, c.double_take_matches, c.double_take_cameras, c.homeassistant_prefix))
        camera = outcome.camera.lower()
        with self._lock:
            previous = self.resets.pop(camera, None)
            if previous:
                previous.cancel()
            timer = threading.Timer(c.person_reset_s, self._send,
                                    [reset_messages(outcome, c.double_take_cameras, c.homeassistant_prefix)])
            timer.daemon = True
            self.resets[camera] = timer
        timer.start()

    def run(self) -> Counter:
        """Until SIGINT/SIGTERM (KeyboardInterrupt); the counts."""
        self.start()
        try:
            while not self.stop.wait(3600):
                pass
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            self.close()
        return self.counts
