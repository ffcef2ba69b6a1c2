"""The station's alarm records for the panel, from MQTT (``<prefix>/$alarms/#``, retained, kept by
the bridge), so that the panel shows them on any PC that reaches the broker, not only on the
station's own machine. Connects like the bridge: TLS and the password from the station file."""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time

import paho.mqtt.client as mqtt

from db.archive.open import SecretError, read_secret
from db.config.station import LoadedStation

log = logging.getLogger("trackerdcs.gui.alarms")


class AlarmFeed:
    def __init__(self, station: LoadedStation):
        config = station.station.bridge.mqtt
        self.topic = f"{config.topic_prefix}/$alarms/#"
        self._records: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.connected = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"trackerdcs-{station.name}-panel-{time.monotonic_ns()}")
        if config.username:
            try:
                self.client.username_pw_set(config.username, read_secret(station, config.password_file, "MQTT password"))
            except SecretError as exc:
                log.error("%s: the panel shows no alarms", exc)
        if config.tls is not None:
            tls = config.tls
            self.client.tls_set(ca_certs=str(station.resolve(tls.ca_file)),
                                certfile=str(station.resolve(tls.cert_file)) if tls.cert_file else None,
                                keyfile=str(station.resolve(tls.key_file)) if tls.key_file else None,
                                tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_connect = self._connected
        self.client.on_disconnect = lambda *args: setattr(self, "connected", False)
        self.client.on_message = self._message
        host, port = config.broker
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _connected(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            self.connected = True
            client.subscribe(self.topic, qos=1)

    def _message(self, client, userdata, message) -> None:
        try:
            record = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(record, dict):
            with self._lock:
                self._records[message.topic] = record

    def records(self) -> list[dict]:
        """Newest first."""
        with self._lock:
            records = list(self._records.values())
        return sorted(records, key=lambda r: r.get("raised") or 0, reverse=True)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
