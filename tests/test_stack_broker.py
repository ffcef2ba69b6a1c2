"""The stack's MQTT broker as `trackerdcs stack init` makes it (config, password file, ACL from the
station file's MQTT permissions, lab CA), run for real by Debian's mosquitto on loopback:
TLS with a password works, anonymous and a wrong password are refused, and the ACL refuses a
topic the station file does not allow (MQTT v5 reason codes)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time

import mqtt_tls
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from db.deploy.stack_files import read_secret

import services
from testkit import write_station

ALLOWED = "dcs/demo/hv/module1/cmd/Off"
NOT_ALLOWED = "dcs/demo/hv/module1/voltage_max/set"  # voltage_max is no MQTT-writable attribute


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack")
    path = write_station(tmp)
    out = tmp / "docker"
    done = subprocess.run([sys.executable, "-m", "trackerdcs", "stack", "init", str(path), "-d", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    broker = services.stack_broker(out, tmp)
    yield {"port": broker.port, "ca": str(out / "generated/tls/ca.crt"), "secrets": out / "secrets", "out": out,
           "station": path, "tmp": tmp}
    broker.stop()


def _client(stack, user: str | None, password: str | None = None):
    if user and password is None:
        password = read_secret(stack["secrets"], f"mqtt_{user}_pw")
    return mqtt_tls.client(stack["ca"], user, password)


_connack = mqtt_tls.connack


def test_init_makes_private_secrets_once_and_keeps_them(stack):
    secrets = stack["secrets"]
    before = {p.name: p.read_bytes() for p in secrets.iterdir()}
    assert {"tangodb_root_pw", "mqtt_bridge_pw", "nodered_credential_secret", "tls_ca.key", "tls_mqtt.key"} <= set(before)
    for path in secrets.iterdir():
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
    again = subprocess.run([sys.executable, "-m", "trackerdcs", "stack", "init", str(stack["station"]), "-d",
                            str(stack["out"])], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "0 secret(s) made" in again.stdout
    assert {p.name: p.read_bytes() for p in secrets.iterdir()} == before
    acl = (stack["out"] / "generated/mosquitto/acl").read_text()
    assert f"topic write {ALLOWED}" in acl and NOT_ALLOWED not in acl


def test_tls_with_a_password_connects_and_anonymous_or_a_wrong_password_is_refused(stack):
    port = stack["port"]
    operator = _client(stack, "operator")
    assert _connack(operator, port) == 0
    operator.disconnect()
    operator.loop_stop()
    assert _connack(_client(stack, None), port) == 135  # Not authorized
    assert _connack(_client(stack, "operator", "not-the-password"), port) in (134, 135)  # Bad user name or password
    plain = socket.create_connection(("127.0.0.1", port), timeout=5)  # MQTT without TLS gets no CONNACK
    plain.sendall(bytes([0x10, 0x10, 0x00, 0x04]) + b"MQTT" + bytes([0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x03]) + b"abc")
    plain.settimeout(5)
    try:
        reply = plain.recv(16)
    except (ConnectionResetError, TimeoutError, ssl.SSLError):
        reply = b""
    finally:
        plain.close()
    assert not reply.startswith(b"\x20"), "the TLS port answered a plain MQTT CONNECT"


def test_the_acl_refuses_a_topic_the_station_file_does_not_allow(stack):
    port = stack["port"]
    seen: list[str] = []
    bridge = _client(stack, "bridge")  # reads the request topics, as the gateway does
    subscribed = threading.Event()
    bridge.on_subscribe = lambda c, u, mid, codes, props: subscribed.set()
    bridge.on_message = lambda c, u, message: seen.append(message.topic)
    assert _connack(bridge, port) == 0
    bridge.subscribe([("dcs/+/+/+/+/set", 1), ("dcs/+/+/+/cmd/+", 1)])
    assert subscribed.wait(10)
    operator = _client(stack, "operator")
    acks: dict[int, int] = {}
    operator.on_publish = lambda c, u, mid, reason_code, props: acks.__setitem__(mid, reason_code.value)
    assert _connack(operator, port) == 0
    props = Properties(PacketTypes.PUBLISH)
    refused = operator.publish(NOT_ALLOWED, b'{"value": 1}', qos=1, properties=props).mid
    allowed = operator.publish(ALLOWED, b"{}", qos=1, properties=props).mid
    deadline = time.monotonic() + 10
    while (len(acks) < 2 or ALLOWED not in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert acks.get(allowed) == 0, acks
    assert acks.get(refused) == 135, f"PUBACK of a refused topic: {acks.get(refused)} (135: Not authorized)"
    assert ALLOWED in seen and NOT_ALLOWED not in seen, seen
    viewer = _client(stack, "viewer")
    viewer_acks: dict[int, int] = {}
    viewer.on_publish = lambda c, u, mid, reason_code, props: viewer_acks.__setitem__(mid, reason_code.value)
    assert _connack(viewer, port) == 0
    mid = viewer.publish(ALLOWED, b"{}", qos=1).mid
    deadline = time.monotonic() + 10
    while mid not in viewer_acks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert viewer_acks.get(mid) == 135, "a read-only account could publish a command"
    for client in (bridge, operator, viewer):
        client.disconnect()
        client.loop_stop()
