"""Counts live MQTT messages under a prefix and measures latency (event ts -> arrival).

    python bench/mqtt_counter.py PORT TOPIC_FILTER

Prints "ready" once subscribed; on each stdin line prints: count p50_ms p99_ms, then resets.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import paho.mqtt.client as mqtt


def main() -> None:
    port, topic = int(sys.argv[1]), sys.argv[2]
    lock = threading.Lock()
    state = {"count": 0, "latency": []}
    ready = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe(topic, qos=0)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        ready.set()

    def on_message(client, userdata, message):
        if message.retain:
            return
        now = time.time()
        try:
            ts = json.loads(message.payload)["ts"]
        except (ValueError, KeyError, TypeError):
            return
        with lock:
            state["count"] += 1
            if state["count"] % 10 == 0:
                state["latency"].append((now - ts) * 1e3)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-counter-{time.monotonic_ns()}")
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.wait(10)
    print("ready", flush=True)
    for _ in sys.stdin:
        with lock:
            lat = sorted(state["latency"]) or [0.0]
            p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(0.99 * len(lat)))]
            print(state["count"], f"{p50:.2f}", f"{p99:.2f}", flush=True)
            state["count"], state["latency"] = 0, []


if __name__ == "__main__":
    main()
