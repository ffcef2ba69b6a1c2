"""The bridge against real mosquitto and real InfluxDB 1.x: points, retained state, gateway, audit."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import tango

import services
from conftest import bridge_station, start_station
from mqtt_probe import Probe
from testkit import wait_for

HV = "demo/hv/module1"
LV1 = "demo/lv/module1-ch1"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bridge")
    broker = services.mosquitto(tmp / "mosquitto")
    influx = services.influxdb1(tmp / "influx")
    path = bridge_station(tmp, broker.port, {"backend": "influxdb1", "url": f"http://127.0.0.1:{influx.port}",
                                              "database": "dcs", "flush_interval": 0.1})
    started = time.time()
    try:
        launcher = start_station(path)
    except BaseException:
        broker.stop()  # never leave a service behind a failed set-up
        influx.stop()
        raise
    probe = Probe(broker.port)
    yield {"launcher": launcher, "broker": broker, "influx": influx, "probe": probe, "started": started,
           "path": path, "host": launcher.station.tango_host}
    probe.close()
    launcher.stop()
    broker.stop()
    influx.stop()


def proxy(env, name):
    device = tango.DeviceProxy(f"tango://{env['host']}/{name}")
    device.set_timeout_millis(3000)
    return device


def influx_rows(env, measurement, device, attribute):
    return services.influx_query(env["influx"].port, "dcs",
                                 f"SELECT * FROM \"{measurement}\" WHERE device = '{device}' AND attribute = '{attribute}' "
                                 f"AND time > now() - 1h")


def test_values_reach_influxdb_with_measurement_tags_unit_and_event_time(env):
    lv = proxy(env, LV1)
    seen = set()

    def record(event):
        if not event.err:
            t = event.attr_value.time
            seen.add(t.tv_sec * 1_000_000_000 + t.tv_usec * 1000 + t.tv_nsec)

    event_id = lv.subscribe_event("voltage", tango.EventType.ARCHIVE_EVENT, record)
    time.sleep(0.5)  # ZMQ slow joiner: events right after subscribe_event may not reach this client yet
    subscribed = time.time_ns()
    lv.current_limit = 1.0
    lv.voltage_setpoint = 5.0
    lv.On()
    try:
        rows = wait_for(lambda: [r for r in influx_rows(env, "lv", LV1, "voltage") if abs((r["value"] or 0) - 5.0) < 0.01],
                        timeout_s=15, what="5 V in InfluxDB")
        row = rows[-1]
        assert row["name"] == "lv" and row["station"] == "demo" and row["unit"] == "V" and row["quality"] == "VALID"
        assert env["started"] * 1e9 < row["time"] <= time.time() * 1e9
        archived = {r["time"] for r in influx_rows(env, "lv", LV1, "voltage") if r["time"] >= subscribed}
        assert archived
        # archived timestamps are the Tango events' own: a bridge stamping its own clock would match none.
        # Two independent ZMQ subscribers may each miss an event right at subscription, so allow 1 in 5.
        wait_for(lambda: len(archived & seen) >= max(1, 0.8 * len(archived)), timeout_s=5,
                 what=f"archive timestamps among the events seen (not seen: {archived - seen})")
    finally:
        lv.unsubscribe_event(event_id)
        lv.Off()


def test_late_subscriber_sees_retained_state(env):
    wait_for(lambda: env["probe"].topic(f"dcs/{HV}/voltage"), what="HV voltage published")
    late = Probe(env["broker"].port, topics=(f"dcs/{HV}/#", "dcs/$bridge/status"), name="late")
    try:
        wait_for(lambda: late.topic(f"dcs/{HV}/state") and late.topic(f"dcs/{HV}/voltage"), what="retained messages")
        body = late.last_json(f"dcs/{HV}/voltage")
        assert set(body) == {"value", "quality", "unit", "ts", "seq"} and body["unit"] == "V"
        assert late.topic(f"dcs/{HV}/state")[-1] in (b"OFF", b"ON", b"MOVING")
        assert late.topic("dcs/$bridge/status")[-1] == b"online"
    finally:
        late.close()


def test_health_counters_are_published(env):
    health = wait_for(lambda: env["probe"].last_json("dcs/$bridge/health"), what="health")
    assert health["events_in"] > 0 and health["archived"] > 0 and health["dropped"] == 0
    assert {"spooled", "queue", "archive_lag_ms", "mqtt_lag_ms", "published"} <= set(health)


def test_gateway_good_requests_reach_the_device(env):
    probe, hv = env["probe"], proxy(env, HV)
    reply = probe.request(f"dcs/{HV}/voltage_setpoint/set", {"value": 42.5, "id": "req-1", "client": "pytest"})
    assert reply == {"ok": True, "id": "req-1"}
    assert hv.voltage_setpoint == pytest.approx(42.5)
    assert probe.request(f"dcs/{HV}/ramp_rate/set", 40) == {"ok": True}
    assert probe.request(f"dcs/{HV}/cmd/On", {"id": 7}) == {"ok": True, "id": 7}
    wait_for(lambda: hv.state() in (tango.DevState.MOVING, tango.DevState.ON), what="HV on")
    assert probe.request(f"dcs/{HV}/cmd/Off", "") == {"ok": True}
    wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=15, what="HV off")
    audit = [json.loads(line) for line in (env["path"].parent / "data" / "log" / "mqtt-audit.jsonl").read_text().splitlines()]
    first = next(a for a in audit if a["target"] == f"{HV}/voltage_setpoint" and a["new"] == 42.5)
    assert first["client"] == "pytest" and first["result"] == "ok" and first["action"] == "write"
    assert first["old"] is not None and first["time"].endswith("Z")
    assert any(a["target"] == f"{HV}/On" and a["result"] == "ok" for a in audit)


BAD = [
    ("malformed JSON", f"dcs/{HV}/voltage_setpoint/set", b"{value: 1", "malformed JSON"),
    ("NaN", f"dcs/{HV}/voltage_setpoint/set", b"NaN", "malformed JSON: NaN"),
    ("Infinity", f"dcs/{HV}/voltage_setpoint/set", b'{"value": Infinity}', "malformed JSON: Infinity"),
    ("wrong type", f"dcs/{HV}/voltage_setpoint/set", b'"high"', "expects a number, got str"),
    ("bool for a number", f"dcs/{HV}/voltage_setpoint/set", b"true", "expects a number, got bool"),
    ("out of range", f"dcs/{HV}/voltage_setpoint/set", b"5000", "outside the range allowed over MQTT [0.0, 600.0]"),
    ("unknown device", "dcs/demo/hv/nosuch/voltage_setpoint/set", b"1", "unknown device 'demo/hv/nosuch'"),
    ("forbidden attribute", f"dcs/{HV}/current_limit/set", b"1e-5", "writing demo/hv/module1/current_limit is not allowed"),
    ("forbidden command", f"dcs/{HV}/cmd/Init", b"", "command demo/hv/module1/Init is not allowed"),
    ("unknown attribute", f"dcs/{HV}/bogus/set", b"1", "writing demo/hv/module1/bogus is not allowed"),
    ("oversized payload", f"dcs/{HV}/voltage_setpoint/set", b"1" + b" " * 5000, "payload too large: 5001 bytes (limit 4096)"),
    ("argument to a void command", f"dcs/{HV}/cmd/On", b"5", "takes no argument"),
    ("unknown request keys", f"dcs/{HV}/voltage_setpoint/set", b'{"value": 1, "exec": "rm -rf /"}', "unknown request keys: exec"),
    ("not UTF-8", f"dcs/{HV}/voltage_setpoint/set", b"\xff\xfe", "payload is not UTF-8"),
    ("missing value", f"dcs/{HV}/voltage_setpoint/set", b'{"id": 3}', "needs a value"),
]


@pytest.mark.parametrize("name, topic, payload, error", BAD, ids=[b[0] for b in BAD])
def test_gateway_rejects_bad_input_without_calling_tango(env, name, topic, payload, error):
    audit_file = env["path"].parent / "data" / "log" / "mqtt-audit.jsonl"
    before = audit_file.read_text() if audit_file.exists() else ""
    setpoint = proxy(env, HV).voltage_setpoint
    reply = env["probe"].request(topic, payload)
    assert reply["ok"] is False and error in reply["error"], reply
    assert (audit_file.read_text() if audit_file.exists() else "") == before, "a rejected request reached Tango"
    assert proxy(env, HV).voltage_setpoint == setpoint


def test_tango_refusal_comes_back_as_the_error_and_is_audited(env):
    reply = env["probe"].request(f"dcs/{LV1}/current_limit/set", {"value": 5.0, "id": "x"})
    assert reply["ok"] is False and reply["id"] == "x"
    assert "current_limit 5 A is above the limit current_limit_max = 3 A" in reply["error"]
    audit = (env["path"].parent / "data" / "log" / "mqtt-audit.jsonl").read_text().splitlines()
    assert "refused: current_limit 5 A" in audit[-1]
    assert env["probe"].request(f"dcs/{LV1}/current_limit/set", 1.5) == {"ok": True}  # the bridge is still running


def test_history_command_reads_the_archive(env, tmp_path):
    wait_for(lambda: influx_rows(env, "hv", HV, "voltage"), what="HV voltage archived")
    base = [sys.executable, "-m", "trackerdcs", "history", f"{HV}/voltage", "-s", str(env["path"]), "--since", "1h"]
    result = subprocess.run(base + ["--csv"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "time,ts_ns,value,quality" and len(lines) > 1
    png = tmp_path / "hv.png"
    result = subprocess.run(base + ["--plot", str(png)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run(base[:-2] + ["--since", "yesterday-ish"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "not a time: 'yesterday-ish'" in bad.stderr


CHILLER = "demo/env/chiller"


def test_the_killer_requests_leave_the_bridge_archiving_and_answering(env):
    probe = env["probe"]
    killers = [
        (f"dcs/demo/hv/{'m' * 65000}/x/set", b"1"),  # paho raised "Publish topic is too long" on the reply
        (f"dcs/{HV}/voltage_setpoint/set", b"[" * 2000 + b"1" + b"]" * 2000),  # RecursionError
        (f"dcs/{HV}/voltage_setpoint/set", b"1" * 4000),  # OverflowError
        (f"dcs/{HV}/cmd/Reset", json.dumps("\u20ac").encode()),  # UnicodeError (Latin-1)
    ]
    for topic, payload in killers:
        reply = probe.request(topic, payload)
        assert reply["ok"] is False and reply["error"], reply
    asked = time.monotonic()
    assert probe.request(f"dcs/{HV}/voltage_setpoint/set", {"value": 33.0, "id": "alive"}, timeout_s=2) == {"ok": True, "id": "alive"}
    assert time.monotonic() - asked < 2
    wait_for(lambda: [r for r in influx_rows(env, "hv", HV, "voltage_setpoint") if r["value"] == 33.0],
             timeout_s=10, what="the new setpoint archived")
    health = wait_for(lambda: (h := probe.last_json("dcs/$bridge/health")) and h["uptime_s"] > 0 and h, what="health")
    assert health["gateway_errors"] == 0 and health["pipeline_errors"] == 0 and health["status"] == "ok", health


def test_a_retained_request_is_not_replayed_when_the_bridge_restarts(env):
    import os
    import signal

    topic = f"dcs/{CHILLER}/setpoint/set"
    chiller = proxy(env, CHILLER)
    probe = env["probe"]
    assert probe.request(topic, {"value": 11.5, "id": "first"}) == {"ok": True, "id": "first"}
    probe.client.publish(topic, json.dumps({"value": 11.0, "id": "stored"}), qos=1, retain=True).wait_for_publish(5)
    wait_for(lambda: chiller.setpoint == 11.0, what="the fresh (live) retained request acted")
    # The bridge writes the setpoint before it replies: count the replies only once the live
    # request's own reply is in, or that reply would be taken for the restarted bridge's answer.
    wait_for(lambda: {"ok": True, "id": "stored"} in [json.loads(r) for r in probe.topic(topic + "/reply")],
             what="the live retained request answered")
    chiller.setpoint = 12.5  # the operator's later choice
    bridge = next(c for c in env["launcher"].children if c.name == "bridge")
    old = bridge.pid
    before = len(probe.topic(topic + "/reply"))
    try:
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: bridge.pid != old and bridge.running(), timeout_s=15, what="bridge restarted")
        reply = json.loads(wait_for(lambda: probe.topic(topic + "/reply")[before:], timeout_s=20,
                                    what="the retained request answered")[-1])
        assert reply["ok"] is False and reply["id"] == "stored" and "retained request ignored" in reply["error"], reply
        time.sleep(1.0)
        assert chiller.setpoint == 12.5, "a retained request was replayed by the restarted bridge"
    finally:
        probe.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)  # clear it
