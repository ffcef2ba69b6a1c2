"""MQTT v5 clients over TLS as the stack's accounts (tests of the broker files and of the stack)."""
from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt


def client(ca_file: str, user: str | None, password: str | None = None) -> mqtt.Client:
    """A v5 client that verifies the broker's certificate and its name against the lab CA."""
    made = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}",
                       protocol=mqtt.MQTTv5)
    made.tls_set(ca_certs=ca_file)
    if user:
        made.username_pw_set(user, password)
    return made


def connack(made: mqtt.Client, port: int, host: str = "localhost") -> int:
    """Connect and return the CONNACK reason code (0: accepted); the loop runs on when accepted."""
    result: dict = {}
    done = threading.Event()

    def on_connect(c, userdata, flags, reason_code, properties):
        result["rc"] = reason_code.value
        done.set()

    made.on_connect = on_connect
    made.connect(host, port)
    made.loop_start()
    try:
        assert done.wait(10), "no CONNACK in 10 s"
        return result["rc"]
    finally:
        if result.get("rc") != 0:
            made.loop_stop()
