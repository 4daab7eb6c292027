"""A test MQTT client that records what a real broker delivers on some topics."""
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Subscriber:
    """A client that records every message under `topics`: [(topic, payload text, retained)]."""

    def __init__(self, port, *topics, ca=None):
        self.messages, self.lock = [], threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}")
        if ca:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_message = self._record
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _record(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload.decode(), bool(message.retain)))
            self.lock.notify_all()

    def wait(self, topic, count=1, timeout=15.0) -> list:
        """The payloads on `topic`, once there are `count` of them."""
        def payloads():
            return [m for m in self.messages if m[0] == topic]
        with self.lock:
            assert self.lock.wait_for(lambda: len(payloads()) >= count, timeout), (topic, self.messages[-10:])
            return payloads()

    def wait_sequence(self, topic, after, sequence, timeout=25.0) -> list:
        """The payloads on `topic` after the first `after`, once `sequence` appears in them in order
        (other payloads may come between) and the last of them is the sequence's last: the topic
        has settled (a worker's will may still arrive after another worker answered its goodbye,
        and be answered in turn)."""
        def found():
            payloads = [m[1] for m in self.messages if m[0] == topic][after:]
            rest = iter(payloads)
            return all(any(p == wanted for p in rest) for wanted in sequence) and payloads[-1] == sequence[-1]
        with self.lock:
            assert self.lock.wait_for(found, timeout), (topic, [m for m in self.messages if m[0] == topic])
            return [m[1] for m in self.messages if m[0] == topic][after:]

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()
