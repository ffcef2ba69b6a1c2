"""The bridge's one paho-mqtt 2.x connection: TLS, credentials, last will, reconnect.

The connection is driven by the pipeline thread (``service``) instead of
paho's own network thread: publishing from the thread that runs the loop
avoids a thread hand-off and a wake-up per message, which is most of paho's
cost at tens of thousands of messages per second. Other threads (gateway
replies, health) hand their messages over with ``post``.
"""

from __future__ import annotations

import collections
import functools
import logging
import select
import socket
import ssl
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from db.config.station import LoadedStation, MqttConfig

log = logging.getLogger("trackerdcs.bridge.mqtt")

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 8.0


@functools.lru_cache(maxsize=65536)
def _topic_field(topic: str) -> bytes:
    data = topic.encode()
    return len(data).to_bytes(2, "big") + data


def _publish_packet(topic: str, payload: bytes) -> bytes:
    """MQTT 3.1.1 PUBLISH, QoS 0, retain (section 3.3)."""
    field = _topic_field(topic)
    remaining = len(field) + len(payload)
    length = bytearray()
    while True:
        byte, remaining = remaining % 128, remaining // 128
        length.append(byte | 0x80 if remaining else byte)
        if not remaining:
            break
    return b"\x31" + bytes(length) + field + payload


def _send_all(sock, data: bytes) -> None:
    """sendall for paho's non-blocking (possibly TLS) socket."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            select.select([], [sock], [], 1.0)
            continue
        view = view[sent:]


def _no_delay(sock) -> None:
    """Send each chunk's PUBLISH packets at once: with Nagle's algorithm (paho leaves it on) a
    chunk's last segment waited for the broker's delayed ACK, up to 40 ms on Linux -- that was
    the MQTT latency's p99 at 10k events/s (bench/bridge.py)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError) as exc:  # not a TCP socket
        log.debug("TCP_NODELAY not set on the MQTT socket: %s", exc)


class Outbox:
    """Messages any thread hands to the connection; its owner thread sends them on its next service()."""

    def __init__(self):
        self.messages: collections.deque[tuple[str, bytes | str, int, bool]] = collections.deque()

    def post(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False) -> None:
        self.messages.append((topic, payload, qos, retain))

    def __bool__(self) -> bool:
        return bool(self.messages)

    def popleft(self):
        return self.messages.popleft()


def status_topic(config: MqttConfig) -> str:
    return f"{config.topic_prefix}/$bridge/status"


class MqttConnection:
    def __init__(self, station: LoadedStation, on_connect: Callable[[], None], outbox: Outbox | None = None,
                 on_message: Callable | None = None, subscriptions: tuple[str, ...] = (), suffix: str = "bridge"):
        self.config = config = station.station.bridge.mqtt
        self.host, self.port = config.broker
        client_id = config.client_id or f"trackerdcs-{station.name}-{suffix}"
        self.client = client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                           protocol=mqtt.MQTTv311, clean_session=True)
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
            tls = config.tls
            client.tls_set(ca_certs=str(station.resolve(tls.ca_file)),
                           certfile=str(station.resolve(tls.cert_file)) if tls.cert_file else None,
                           keyfile=str(station.resolve(tls.key_file)) if tls.key_file else None,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        if on_message is not None:
            client.on_message = on_message
        self._on_connect = on_connect
        self.subscriptions = tuple(subscriptions)  # subscribed (QoS 1) at every (re)connect
        self.outbox = outbox if outbox is not None else Outbox()
        self.connected = False
        self.refused = 0  # posted messages paho would not send (counted in the bridge's pipeline errors)
        self._retry_at = 0.0
        self._retry_s = RECONNECT_MIN_S
        self._started = False

    def _connected(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("MQTT broker %s:%d refused the connection: %s", self.host, self.port, reason_code)
            return
        log.info("connected to MQTT broker %s:%d", self.host, self.port)
        _no_delay(client.socket())
        self.connected = True
        self._retry_s = RECONNECT_MIN_S
        client.publish(status_topic(self.config), "online", qos=1, retain=True)
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        self._on_connect()

    def _disconnected(self, client, userdata, flags, reason_code, properties):
        if self.connected:
            log.warning("MQTT broker connection lost (%s); reconnecting", reason_code)
        self.connected = False

    def post(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False) -> None:
        """Publish from any thread: the owner thread sends it on its next service()."""
        self.outbox.post(topic, payload, qos, retain)

    def publish_retained(self, messages: list[tuple[str, bytes]], qos: int) -> None:
        """Publish retained messages from the owner thread.

        QoS 0 takes a fast path when paho has nothing queued (its public
        ``want_write``): the PUBLISH packets of a whole chunk go out in one
        ``send`` on paho's socket instead of one paho call and syscall each.
        Anything else goes through paho.
        """
        client = self.client
        sock = client.socket()
        if qos != 0 or not self.connected or sock is None or client.want_write():
            for topic, payload in messages:
                client.publish(topic, payload, qos=qos, retain=True)
            return
        try:
            _send_all(sock, b"".join([_publish_packet(topic, payload) for topic, payload in messages]))
        except OSError as exc:  # paho notices the broken socket on its next loop and reconnects
            log.warning("MQTT send failed: %s", exc)
            self.connected = False

    def service(self, timeout_s: float) -> None:
        """Run the network loop once (owner thread only): I/O, keep-alive, reconnect, outbox."""
        client = self.client
        if not self._started:
            self._started = True
            client.connect_async(self.host, self.port, keepalive=30)
            self._reconnect()
        while self.outbox and self.connected:
            topic, payload, qos, retain = self.outbox.popleft()
            try:
                client.publish(topic, payload, qos=qos, retain=retain)
            except (ValueError, TypeError) as exc:  # paho refuses the message itself (topic too long, bad payload)
                self.refused += 1
                log.error("MQTT message on %.200s refused by paho and dropped: %s", topic, exc)
        rc = client.loop(timeout=timeout_s)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self.connected = False
            if time.monotonic() >= self._retry_at:
                self._reconnect()
            else:
                time.sleep(min(timeout_s, 0.01))

    def _reconnect(self) -> None:
        try:
            self.client.reconnect()
        except (OSError, ValueError) as exc:
            log.debug("MQTT reconnect failed: %s", exc)
        self._retry_at = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, RECONNECT_MAX_S)

    def close(self) -> None:
        """Say offline and disconnect (after the owner thread stopped)."""
        if self.connected:
            info = self.client.publish(status_topic(self.config), "offline", qos=1, retain=True)
            deadline = time.monotonic() + 2
            while not info.is_published() and time.monotonic() < deadline:
                self.client.loop(timeout=0.05)
        self.client.disconnect()
        self.client.loop(timeout=0.05)
