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
    def __init__(self, prefix: str, qos: int = 0):
        self.prefix = prefix
        self.qos = qos
        self.retained: dict[str, bytes] = {}
        self._seq: dict[str, int] = {}
        self._topics: dict[tuple[str, str], str] = {}
        self.republish_requested = threading.Event()

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

    def republish_all(self, connection) -> None:
        """Every topic's last payload again, through the connection's one publish path."""
        messages = list(self.retained.items())
        connection.publish_retained(messages, self.qos)
        log.info("republished %d retained topics", len(messages))
