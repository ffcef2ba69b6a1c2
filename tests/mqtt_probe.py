"""A paho subscriber for tests: records every message it sees."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt

from testkit import wait_for


class Probe:
    def __init__(self, port: int, topics=("dcs/#",), name: str = "probe", username: str | None = None,
                 password: str | None = None, ca_file: str | None = None):
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{time.monotonic_ns()}")
        self.connected = threading.Event()
        self.topics = topics

        def on_connect(client, userdata, flags, reason_code, properties):
            for topic in self.topics:
                client.subscribe(topic, qos=1)
            self.connected.set()

        def on_message(client, userdata, message):
            with self.lock:
                self.messages.append((time.time(), message.topic, bytes(message.payload), bool(message.retain)))

        self.client.on_connect = on_connect
        self.client.on_message = on_message
        if username:
            self.client.username_pw_set(username, password)
        if ca_file:
            self.client.tls_set(ca_certs=ca_file)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(10), "probe could not connect to mosquitto"

    def topic(self, topic: str) -> list[bytes]:
        with self.lock:
            return [payload for _, t, payload, _ in self.messages if t == topic]

    def last_json(self, topic: str):
        payloads = self.topic(topic)
        return json.loads(payloads[-1]) if payloads else None

    def request(self, topic: str, payload, timeout_s: float = 10.0) -> dict:
        """Publish a gateway request and wait for its reply."""
        before = len(self.topic(topic + "/reply"))
        data = payload if isinstance(payload, bytes) else (payload.encode() if isinstance(payload, str)
                                                           else json.dumps(payload).encode())
        self.client.publish(topic, data, qos=1)
        wait_for(lambda: len(self.topic(topic + "/reply")) > before, timeout_s=timeout_s, what=f"reply on {topic}")
        return json.loads(self.topic(topic + "/reply")[before])

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
