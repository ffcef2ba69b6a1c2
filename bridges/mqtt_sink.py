"""MQTT sink: every Reading becomes a retained ``dcs/<device>/<attribute>`` message.

Payload ``{"value", "quality", "unit", "ts", "seq"}`` (ts: the Tango event's
timestamp, seconds since the epoch); the device state goes to
``dcs/<device>/state`` as plain text. The last payload of every topic is
kept, and republished after every (re)connect, so a broker restart never
leaves stale retained state behind.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time

import paho.mqtt.client as mqtt

from bridges.stats import BridgeStats
from db.archive.reading import Reading

log = logging.getLogger("trackerdcs.bridge.mqtt")


class MqttSink:
    name = "mqtt"

    def __init__(self, client: mqtt.Client, prefix: str, stats: BridgeStats, qos: int = 0, max_queue: int = 1_000_000):
        self.client = client
        self.prefix = prefix
        self.stats = stats
        self.qos = qos
        self.max_queue = max_queue
        self.queue: collections.deque[Reading] = collections.deque()
        self.retained: dict[str, bytes] = {}
        self._seq: dict[str, int] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._republish = threading.Event()

    def offer(self, reading: Reading) -> None:
        if len(self.queue) >= self.max_queue:
            self.stats.dropped += 1
            return
        self.queue.append(reading)
        self._wake.set()

    @property
    def depth(self) -> int:
        return len(self.queue)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-sink", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def republish_all(self) -> None:
        """Called on (re)connect: send the retained state again from the sink thread."""
        self._republish.set()
        self._wake.set()

    def topic(self, reading: Reading) -> str:
        if reading.attribute == "State":
            return f"{self.prefix}/{reading.device}/state"
        return f"{self.prefix}/{reading.device}/{reading.attribute}"

    def _payload(self, topic: str, reading: Reading) -> bytes:
        if reading.attribute == "State":
            return str(reading.value).encode()
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        return json.dumps({"value": reading.value, "quality": reading.quality, "unit": reading.unit,
                           "ts": reading.ts_ns / 1e9, "seq": seq}, allow_nan=False).encode()

    def _run(self) -> None:
        publish = self.client.publish
        queue = self.queue
        while not self._stop.is_set():
            if self._republish.is_set():
                self._republish.clear()
                for topic, payload in list(self.retained.items()):
                    publish(topic, payload, qos=self.qos, retain=True)
                log.info("republished %d retained topics", len(self.retained))
            if not queue:
                self._wake.wait(0.1)
                self._wake.clear()
                continue
            count = 0
            last = None
            while queue and count < 10_000:
                reading = queue.popleft()
                topic = self.topic(reading)
                try:
                    payload = self._payload(topic, reading)
                except ValueError:  # NaN / inf: JSON has no such number
                    payload = json.dumps({"value": None, "quality": "INVALID", "unit": reading.unit,
                                          "ts": reading.ts_ns / 1e9, "seq": self._seq.get(topic, 0)}).encode()
                self.retained[topic] = payload
                publish(topic, payload, qos=self.qos, retain=True)
                count += 1
                last = reading
            self.stats.published += count
            if last is not None:
                self.stats.mqtt_lag_ms = max(0.0, time.time() * 1e3 - last.ts_ns / 1e6)
