"""The bridge's one paho-mqtt 2.x connection: TLS, credentials, last will, reconnect."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

import paho.mqtt.client as mqtt

from db.station import LoadedStation, MqttConfig

log = logging.getLogger("trackerdcs.bridge.mqtt")


def status_topic(config: MqttConfig) -> str:
    return f"{config.topic_prefix}/$bridge/status"


def make_client(station: LoadedStation, on_connect: Callable[[], None], suffix: str = "bridge") -> mqtt.Client:
    config = station.station.bridge.mqtt
    client_id = config.client_id or f"trackerdcs-{station.name}-{suffix}"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                         clean_session=True)
    client.will_set(status_topic(config), "offline", qos=1, retain=True)
    if config.username:
        password = None
        if config.password_file:
            path = station.resolve(config.password_file)
            try:
                password = path.read_text().strip()
            except OSError as exc:
                raise ValueError(f"cannot read the MQTT password file {path}: {exc.strerror}") from None
        client.username_pw_set(config.username, password)
    if config.tls is not None:
        client.tls_set(ca_certs=str(station.resolve(config.tls.ca_file)),
                       certfile=str(station.resolve(config.tls.cert_file)) if config.tls.cert_file else None,
                       keyfile=str(station.resolve(config.tls.key_file)) if config.tls.key_file else None,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.reconnect_delay_set(min_delay=1, max_delay=8)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)

    def _connected(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("MQTT broker refused the connection: %s", reason_code)
            return
        log.info("connected to MQTT broker %s:%d", *config.broker)
        client.publish(status_topic(config), "online", qos=1, retain=True)
        on_connect()

    def _disconnected(client, userdata, flags, reason_code, properties):
        log.warning("MQTT broker connection lost (%s); reconnecting", reason_code)

    client.on_connect = _connected
    client.on_disconnect = _disconnected
    return client
