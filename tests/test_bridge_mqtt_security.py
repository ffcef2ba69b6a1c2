"""MQTT with TLS and a password (both from the station file), and the amqtt fallback broker."""

from __future__ import annotations

import os
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest

from servers.broker import broker_command

import services
from conftest import bridge_station, start_station
from mqtt_probe import Probe
from testkit import free_port, wait_for

HV = "demo/hv/module1"


def make_certificates(folder):
    def run(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=tracker-dcs test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (folder / "san.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "san.ext", "-out", "server.crt")


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("secure")
    certs = tmp / "certs"
    certs.mkdir()
    make_certificates(certs)
    passwd = tmp / "passwd"
    subprocess.run([services.binary("mosquitto_passwd", "/usr/bin/mosquitto_passwd"), "-c", "-b", str(passwd),
                    "dcs-bridge", "s3cret"], check=True, capture_output=True, timeout=30)
    port = free_port()
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous false", f"password_file {passwd}",
             f"cafile {certs / 'ca.crt'}", f"certfile {certs / 'server.crt'}", f"keyfile {certs / 'server.key'}",
             "persistence false"]
    if os.geteuid() == 0:
        lines.append("user root")
    (tmp / "mosquitto.conf").write_text("\n".join(lines) + "\n")
    broker = services.Service("mosquitto", [services.binary("mosquitto", "/usr/sbin/mosquitto"), "-c",
                                            str(tmp / "mosquitto.conf")], tmp, port).start(services.tcp_ready(port))
    secret = tmp / "mqtt.password"
    secret.write_text("s3cret\n")

    def credentials(raw):
        raw["bridge"]["mqtt"].update(username="dcs-bridge", password_file=str(secret), tls={"ca_file": str(certs / "ca.crt")})

    try:
        launcher = start_station(bridge_station(tmp, port, {"backend": "embedded"}, credentials))
    except BaseException:
        broker.stop()  # never leave a service behind a failed set-up
        raise
    yield {"port": port, "ca": str(certs / "ca.crt"), "log": tmp / "data" / "log" / "bridge.log"}
    launcher.stop()
    broker.stop()


def test_bridge_publishes_over_tls_with_password(secure):
    probe = Probe(secure["port"], topics=(f"dcs/{HV}/#",), username="dcs-bridge", password="s3cret", ca_file=secure["ca"])
    try:
        wait_for(lambda: probe.topic(f"dcs/{HV}/state"), timeout_s=15, what="state over TLS")
        assert probe.last_json(f"dcs/{HV}/voltage")["unit"] == "V"
    finally:
        probe.close()


def test_anonymous_clients_are_refused(secure):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="anonymous")
    client.tls_set(ca_certs=secure["ca"])
    result = {}
    client.on_connect = lambda c, u, f, reason_code, p: result.setdefault("rc", reason_code)
    client.connect("127.0.0.1", secure["port"])
    client.loop_start()
    try:
        wait_for(lambda: "rc" in result, what="CONNACK")
        assert result["rc"].is_failure
    finally:
        client.loop_stop()


def test_amqtt_is_the_fallback_broker(tmp_path):
    port = free_port()
    assert broker_command("127.0.0.1", port, tmp_path)[0] == "mosquitto"  # installed here
    kind, args = broker_command("127.0.0.1", port, tmp_path, mosquitto=None)
    assert kind == "amqtt"
    with open(tmp_path / "amqtt.log", "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(services.tcp_ready(port), timeout_s=20, what="amqtt listening")
        time.sleep(0.3)
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pub")
        publisher.connect("127.0.0.1", port)
        publisher.loop_start()
        publisher.publish("dcs/demo/x/y/voltage", b'{"value": 1}', qos=1, retain=True).wait_for_publish(5)
        probe = Probe(port, topics=("dcs/#",), name="amqtt-probe")
        wait_for(lambda: probe.topic("dcs/demo/x/y/voltage"), what="retained message through amqtt")
        probe.close()
        publisher.loop_stop()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
