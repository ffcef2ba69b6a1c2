"""The bridge's threads in-process, against a real mosquitto: a message paho refuses, a reading
that cannot be encoded and a failing write-ahead log are each counted and survived; a thread
that ends is started again, the health says degraded, and too many restarts end the process
with a non-zero code; what a dead pipeline left queued reaches the write-ahead log."""

from __future__ import annotations

import time

import pytest

from bridges.pipeline import TO_ARCHIVE, TO_MQTT
from bridges.service import EXIT_UNRECOVERABLE, RESTARTS_ALLOWED, Bridge
from db.archive.reading import Reading
from db.config.validation import load_station

import services
from mqtt_probe import Probe
from testkit import wait_for, write_station


@pytest.fixture
def bridge(tmp_path):
    broker = services.mosquitto(tmp_path / "mosquitto")

    def to_broker(raw):
        raw["bridge"] = {"archive": {"backend": "embedded", "flush_interval": 0.05},
                         "mqtt": {"host": "127.0.0.1", "port": broker.port}}

    station = load_station(write_station(tmp_path, to_broker))
    bridge = Bridge(station)
    bridge.archive.start()
    bridge.pipeline.start()
    bridge.gateway.start()
    wait_for(lambda: bridge.connection.connected, what="the bridge's MQTT connection")
    probe = Probe(broker.port, topics=("dcs/#",))
    yield bridge, probe
    probe.close()
    bridge.request_stop()
    bridge.stop()
    broker.stop()


def reading(value, n: int) -> Reading:
    return Reading("demo/hv/module1", "voltage", value, "VALID", "V", time.time_ns() + n)


def archived(bridge) -> int:
    return bridge.stats.archived


def test_a_message_paho_refuses_is_counted_and_the_pipeline_goes_on(bridge):
    bridge, probe = bridge
    bridge.connection.post("dcs/" + "x" * 70_000, "{}")  # paho: "Publish topic is too long"
    bridge.pipeline.offer(reading(1.0, 1), TO_ARCHIVE | TO_MQTT)
    wait_for(lambda: probe.topic("dcs/demo/hv/module1/voltage"), what="the reading published after the refused one")
    wait_for(lambda: archived(bridge) >= 1, what="the reading archived")
    assert bridge.pipeline.alive() and bridge.connection.refused == 1
    assert bridge.errors()[1] == 1 and bridge.condition()[0] == "degraded"


def test_a_reading_that_cannot_become_a_message_is_skipped_alone(bridge):
    bridge, probe = bridge
    bridge.pipeline.offer(reading(object(), 1), TO_MQTT)  # nothing the JSON encoder knows
    bridge.pipeline.offer(reading(2.0, 2), TO_ARCHIVE | TO_MQTT)
    wait_for(lambda: probe.last_json("dcs/demo/hv/module1/voltage") and
             probe.last_json("dcs/demo/hv/module1/voltage")["value"] == 2.0, what="the next reading published")
    assert bridge.pipeline.alive() and bridge.stats.pipeline_errors == 1


def test_a_failing_write_ahead_log_loses_nothing(bridge):
    bridge, _ = bridge
    append, failures = bridge.wal.append, []

    def full_disk_twice(lines):
        if len(failures) < 2:
            failures.append(len(lines))
            raise OSError(28, "No space left on device")
        return append(lines)

    bridge.wal.append = full_disk_twice
    for n in range(5):
        bridge.pipeline.offer(reading(float(n), n), TO_ARCHIVE)
    wait_for(lambda: archived(bridge) >= 5, what="all five readings archived after the failures")
    assert failures and bridge.stats.pipeline_errors == 2 and bridge.pipeline.alive()


def test_an_ended_thread_is_started_again_then_the_process_gives_up(bridge):
    bridge, _ = bridge
    for restart in range(RESTARTS_ALLOWED):
        bridge.gateway.stop()  # the thread ends
        bridge.supervise()
        assert bridge.gateway.alive(), f"restart {restart + 1}"
    condition, reason = bridge.condition()
    assert condition == "degraded" and "mqtt-gateway thread ended" in reason
    assert bridge.health()["thread_restarts"] == RESTARTS_ALLOWED
    bridge.gateway.stop()
    bridge.supervise()
    assert bridge.exit_code == EXIT_UNRECOVERABLE and bridge._stop.is_set()


def test_readings_left_by_a_dead_pipeline_reach_the_write_ahead_log(bridge):
    bridge, _ = bridge
    bridge.pipeline.stop()
    for n in range(3):
        bridge.pipeline.offer(reading(float(n), n), TO_ARCHIVE)
    bridge.pipeline.save_queued()
    assert bridge.wal.pending_points + bridge.wal.open_points >= 3 or archived(bridge) >= 3
    wait_for(lambda: archived(bridge) >= 3, what="the saved readings archived")


def test_the_raw_publish_fast_path_sends_what_paho_would(bridge, tmp_path):
    """The pipeline writes QoS 0 retained PUBLISH packets straight onto paho's socket
    (docs/decisions/0008). It relies on paho 2.x's public socket() and want_write(), and on paho
    keeping no state for a QoS 0 message; this fails when a paho upgrade changes any of that."""
    import paho.mqtt
    import paho.mqtt.client as mqtt

    bridge, probe = bridge
    version = paho.mqtt.__version__
    assert version.split(".")[0] == "2", f"paho-mqtt {version}: re-check the raw PUBLISH path"
    assert callable(mqtt.Client.socket) and callable(mqtt.Client.want_write)
    bridge.pipeline.stop()  # the test thread now drives the connection, as the pipeline does
    connection = bridge.connection
    cases = [("a", b'{"value": 1.0}'), ("unicode-\u00e9\u20ac", "caf\u00e9".encode()), ("big", b"x" * 20_000),
             ("short", b"1")]
    wait_for(lambda: (connection.service(0.01), not connection.client.want_write())[1], what="paho's queue empty")
    connection.publish_retained([(f"dcs/raw/{name}", payload) for name, payload in cases], 0)
    assert not connection.client.want_write(), "paho saw the raw packets as its own output"
    for name, payload in cases:
        connection.client.publish(f"dcs/paho/{name}", payload, qos=0, retain=True)
    wait_for(lambda: (connection.service(0.01), all(probe.topic(f"dcs/{path}/{name}") for path in ("raw", "paho")
                                                    for name, _ in cases))[1], what="both paths delivered")
    late = Probe(probe.client._port, topics=("dcs/raw/#", "dcs/paho/#"), name="late")
    try:
        wait_for(lambda: len(late.messages) >= 2 * len(cases), what="every retained message, both paths")
        for name, payload in cases:
            raw = [m for m in late.messages if m[1] == f"dcs/raw/{name}"]
            sent = [m for m in late.messages if m[1] == f"dcs/paho/{name}"]
            assert raw and sent and raw[-1][2] == sent[-1][2] == payload and raw[-1][3] and sent[-1][3]
    finally:
        late.close()
    connection.service(0.05)
    assert connection.connected, "the broker dropped the connection: a malformed packet"
