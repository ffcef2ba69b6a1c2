"""MQTT sink: every Reading becomes a retained ``dcs/<device>/<attribute>`` message.

Payload ``{"value", "quality", "unit", "ts", "seq"}`` (ts: the Tango event's
timestamp, seconds since the epoch); the device state goes to
``dcs/<device>/state`` as plain text. The last payload of every topic is
kept and republished after every (re)connect, so a broker restart never
leaves stale or missing retained state. Runs on the pipeline thread.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
import time

from bridges.sink import TO_MQTT
from db.archive.reading import Reading

log = logging.getLogger("trackerdcs.bridge.mqtt")


@functools.lru_cache(maxsize=4096)
def json_text(text: str) -> str:
    return json.dumps(text)


def json_value(value) -> str:
    """JSON of a reading's value, without json.dumps on the common float path (hot loop)."""
    if type(value) is float:
        return repr(value) if math.isfinite(value) else "null"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    return json.dumps(value, allow_nan=False) if not isinstance(value, float) else "null"


class MqttSink:
    name = "MQTT"
    durable = False

    def __init__(self, connection, prefix: str, qos: int, stats):
        self.connection = connection
        self.stats = stats
        self.prefix = prefix
        self.qos = qos
        self.retained: dict[str, bytes] = {}
        self._seq: dict[str, int] = {}
        self._topics: dict[tuple[str, str], str] = {}
        self.republish_requested = threading.Event()
        self._idle_since = time.monotonic()

    def topic(self, reading: Reading) -> str:
        key = (reading.device, reading.attribute)
        topic = self._topics.get(key)
        if topic is None:
            leaf = "state" if reading.attribute == "State" else reading.attribute
            topic = self._topics[key] = f"{self.prefix}/{reading.device}/{leaf}"
        return topic

    def message(self, reading: Reading) -> tuple[str, bytes]:
        """Topic and payload of a reading; remembered for republishing after a reconnect."""
        topic = self.topic(reading)
        if reading.attribute == "State":
            payload = str(reading.value).encode()
        else:
            seq = self._seq.get(topic, 0) + 1
            self._seq[topic] = seq
            payload = (f'{{"value": {json_value(reading.value)}, "quality": "{reading.quality}", '
                       f'"unit": {json_text(reading.unit)}, "ts": {reading.ts_ns / 1e9!r}, "seq": {seq}}}').encode()
        self.retained[topic] = payload
        return topic, payload

    def take(self, chunk) -> None:
        messages, last = [], None
        for reading, route in chunk:
            if route & TO_MQTT:
                try:
                    messages.append(self.message(reading))
                    last = reading
                except Exception as exc:  # one reading that cannot be put into a message: skipped alone
                    self.stats.failure("MQTT message of a reading", exc)
        if messages:
            self.connection.publish_retained(messages, self.qos)
            self.stats.published += len(messages)
            self.stats.mqtt_lag_ms = max(0.0, time.time() * 1e3 - last.ts_ns / 1e6)

    def tick(self, stopping: bool, busy: bool) -> None:
        """Runs the connection's network loop (this thread owns it); republishes after a reconnect."""
        if self.republish_requested.is_set():
            self.republish_requested.clear()
            self.republish_all()
        now = time.monotonic()
        if busy:
            self._idle_since = now
            self.connection.service(0)
        else:
            self.connection.service(0.0005 if now - self._idle_since < 1.0 else 0.005)

    def republish_all(self) -> None:
        """Every topic's last payload again, through the connection's one publish path."""
        messages = list(self.retained.items())
        self.connection.publish_retained(messages, self.qos)
        log.info("republished %d retained topics", len(messages))
