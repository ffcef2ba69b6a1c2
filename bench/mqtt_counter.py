"""Counts live MQTT messages under a prefix and measures latency (event ts -> arrival).

    python bench/mqtt_counter.py PORT TOPIC_FILTER

Prints "ready" once subscribed; on each stdin line prints: count p50_ms p99_ms, then resets.

The receiving is done by ``mosquitto_sub`` (C, from mosquitto-clients), which
stamps each message on arrival (``%U``, ns): a Python MQTT client would spend
a third of a core at 20k messages/s, taken from the bridge it measures on a
2-core machine. Here Python only counts lines in bulk and parses one line in
ten for the latency.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt

PROBE = "_bench_probe"
SAMPLE_EVERY = 10


def main() -> None:
    port, topic = int(sys.argv[1]), sys.argv[2]
    if shutil.which("mosquitto_sub") is None:
        raise SystemExit("mosquitto_sub not found: install mosquitto-clients")
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-R", "-F", "%U %p"],
                           stdout=subprocess.PIPE, bufsize=0)
    lock = threading.Lock()
    state = {"count": 0, "latency": [], "probe": False}

    def read() -> None:
        rest = b""
        while chunk := sub.stdout.read(1 << 16):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            latency = []
            for line in lines[::SAMPLE_EVERY]:
                received, _, payload = line.partition(b" ")
                try:
                    latency.append((float(received) - json.loads(payload)["ts"]) * 1e3)
                except (ValueError, KeyError, TypeError):
                    pass
            count = sum(1 for line in lines if b'"ts": ' in line)
            with lock:
                state["count"] += count
                state["latency"] += latency
                state["probe"] = state["probe"] or any(PROBE.encode() in line for line in lines)

    threading.Thread(target=read, daemon=True).start()
    # mosquitto_sub does not say when it is subscribed: publish probes until one comes back
    probe = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{time.monotonic_ns()}")
    probe.connect("127.0.0.1", port)
    probe.loop_start()
    deadline = time.monotonic() + 10
    probe_topic = topic.rstrip("#").rstrip("/") + "/" + PROBE
    while not state["probe"] and time.monotonic() < deadline:
        probe.publish(probe_topic, PROBE)
        time.sleep(0.1)
    probe.loop_stop()
    probe.disconnect()
    if not state["probe"]:
        sub.kill()
        raise SystemExit(f"mosquitto_sub on port {port} received nothing")
    print("ready", flush=True)
    for _ in sys.stdin:
        time.sleep(0.05)  # what mosquitto_sub has printed is read
        with lock:
            lat = sorted(state["latency"]) or [0.0]
            p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(0.99 * len(lat)))]
            print(state["count"], f"{p50:.2f}", f"{p99:.2f}", flush=True)
            state["count"], state["latency"] = 0, []
    sub.kill()


if __name__ == "__main__":
    main()
