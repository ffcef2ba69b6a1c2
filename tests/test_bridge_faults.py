"""The bridge never loses a point: archive outage, bridge kill -9, broker restart, device-server restart.

Ground truth is what a subscriber saw on MQTT: the bridge writes every
archive-bound reading to its write-ahead log before publishing it, so every
timestamp seen on MQTT must end up in the archive.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import tango

import services
from conftest import bridge_station, start_station
from mqtt_probe import Probe
from testkit import free_ports, wait_for

HV = "demo/hv/module1"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    broker = services.mosquitto(tmp / "mosquitto")
    influx = services.influxdb1(tmp / "influx")

    def change_events_for_both(raw):
        raw["bridge"]["archive_events"] = "change"
        # HV on fixed ports, as in a container or a systemd unit: a restart reuses its ZMQ endpoint
        next(s for s in raw["servers"] if s["name"] == "PowerSupply/demo-hv")["port"] = free_ports(3)

    path = bridge_station(tmp, broker.port, {"backend": "influxdb1", "url": f"http://127.0.0.1:{influx.port}",
                                              "database": "dcs", "flush_interval": 0.1}, change_events_for_both)
    try:
        launcher = start_station(path)
    except BaseException:
        broker.stop()  # never leave a service behind a failed set-up
        influx.stop()
        raise
    probe = Probe(broker.port, topics=(f"dcs/{HV}/#", "dcs/$bridge/#"))
    env = {"launcher": launcher, "broker": broker, "influx": influx, "probe": probe, "path": path,
           "host": launcher.station.tango_host, "tmp": tmp}
    yield env
    env["probe"].close()
    launcher.stop()
    env["broker"].stop()
    env["influx"].stop()


def hv(env) -> tango.DeviceProxy:
    device = tango.DeviceProxy(f"tango://{env['host']}/{HV}")
    device.set_timeout_millis(3000)
    return device


def health(env) -> dict:
    return json.loads((env["path"].parent / "data" / "run" / "bridge-health.json").read_text())


def mqtt_stamps(env, attribute: str, since: float) -> set[int]:
    stamps = set()
    for received, topic, payload, _ in list(env["probe"].messages):
        if topic == f"dcs/{HV}/{attribute}" and received >= since:
            stamps.add(round(json.loads(payload)["ts"] * 1e6))
    return stamps


def archive_stamps(env, attribute: str) -> set[int]:
    rows = services.influx_query(env["influx"].port, "dcs",
                                 f"SELECT value FROM hv WHERE device = '{HV}' AND attribute = '{attribute}' "
                                 f"AND time > now() - 1h")
    return {round(r["time"] / 1e3) for r in rows}


def drained(env, after: float = 0.0) -> bool:
    """Everything archived, per a health report written after ``after`` (the file is refreshed every second)."""
    path = env["path"].parent / "data" / "run" / "bridge-health.json"
    if path.stat().st_mtime <= after:
        return False
    h = health(env)
    return h["archive_available"] and h["spooled"] == 0 and h["queue"] == 0


def settled_and_drained(env) -> None:
    """The HV has finished its ramp and the readback settled (no more events), then the bridge caught up."""
    wait_for(lambda: hv(env).state() == tango.DevState.ON, timeout_s=60, interval_s=0.5, what="ramp finished")
    time.sleep(2.0)  # the readback settles after the ramp: its last events come now
    quiet = time.time()
    wait_for(lambda: drained(env, after=quiet), timeout_s=60, interval_s=0.5, what="spool replayed")


def restart_influx(env) -> None:
    env["influx"] = services.influxdb1(env["tmp"] / "influx", port=env["influx"].port)


def ramp(env, volts: float, rate: float) -> None:
    device = hv(env)
    device.ramp_rate = rate
    device.voltage_setpoint = volts
    if device.state() == tango.DevState.OFF:
        device.On()


def test_influxdb_down_for_30_s_loses_nothing(env):
    started = time.time()
    ramp(env, 500.0, 10.0)
    time.sleep(2)
    env["influx"].stop()
    outage = time.time()
    wait_for(lambda: health(env)["spooled"] > 0, timeout_s=10, what="points spooled while InfluxDB is down")
    time.sleep(max(0.0, 30 - (time.time() - outage)))
    spooled = health(env)["spooled"]
    restart_influx(env)
    settled_and_drained(env)
    for attribute in ("voltage", "current"):
        seen = mqtt_stamps(env, attribute, started)
        missing = seen - archive_stamps(env, attribute)
        assert len(seen) > 200, f"too few {attribute} events to prove anything: {len(seen)}"
        assert not missing, f"{len(missing)} of {len(seen)} {attribute} points missing after the outage"
    assert spooled > 200


def test_bridge_kill_9_loses_nothing(env):
    started = time.time()
    ramp(env, 100.0, 20.0)  # ramping down from ~500 V: a steady stream of events
    time.sleep(1)
    env["influx"].stop()
    wait_for(lambda: health(env)["spooled"] > 50, timeout_s=15, what="points spooled")
    bridge = next(c for c in env["launcher"].children if c.name == "bridge")
    old_pid = bridge.pid
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: bridge.pid != old_pid and bridge.running(), timeout_s=15, what="bridge restarted")
    wait_for(lambda: health(env)["pid"] == bridge.pid, timeout_s=15, what="new bridge reporting")
    time.sleep(3)
    restart_influx(env)
    settled_and_drained(env)
    for attribute in ("voltage", "current"):
        seen = mqtt_stamps(env, attribute, started)
        missing = seen - archive_stamps(env, attribute)
        assert len(seen) > 50
        assert not missing, f"{len(missing)} of {len(seen)} {attribute} points lost across kill -9"


def test_broker_restart_republishes_retained_state(env):
    device = hv(env)
    wait_for(lambda: device.state() in (tango.DevState.ON, tango.DevState.OFF), timeout_s=30, what="HV settled")
    env["probe"].close()
    port = env["broker"].port
    env["broker"].stop()
    time.sleep(2)
    env["broker"] = services.mosquitto(env["tmp"] / "mosquitto", port=port)
    late = Probe(port, topics=(f"dcs/{HV}/state", f"dcs/{HV}/voltage", "dcs/$bridge/status"), name="after-restart")
    try:
        wait_for(lambda: late.topic(f"dcs/{HV}/state") and late.topic(f"dcs/{HV}/voltage")
                 and late.topic("dcs/$bridge/status") == [b"online"], timeout_s=20, what="retained state after restart")
        assert late.topic(f"dcs/{HV}/state")[-1].decode() == str(device.state())
        assert late.last_json(f"dcs/{HV}/voltage")["value"] == pytest.approx(device.voltage, abs=1.0)
    finally:
        late.close()
    env["probe"] = Probe(port, topics=(f"dcs/{HV}/#", "dcs/$bridge/#"))


def test_device_server_restart_flows_again_without_bridge_restart(env):
    bridge_pid = health(env)["pid"]
    server = next(c for c in env["launcher"].children if c.name == "server PowerSupply/demo-hv")
    old = server.pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: server.pid != old and server.running(), timeout_s=15, what="server restarted")

    def answers():
        try:
            return hv(env).state() is not None
        except tango.DevFailed:
            return False

    wait_for(answers, timeout_s=15, what="HV answering")
    hv(env).voltage_setpoint = 77.0
    topic = f"dcs/{HV}/voltage_setpoint"
    # within 5 s: the bridge's watcher (1 s turns) subscribes again; Tango's own keep-alive would
    # reconnect the server's event channel only after 10 s
    wait_for(lambda: any(json.loads(p)["value"] == 77.0 for p in env["probe"].topic(topic)),
             timeout_s=5, interval_s=0.2, what="events flowing again within 5 s of the restart")
    assert health(env)["pid"] == bridge_pid
    # the bridge's restart watcher subscribed again, not Tango's 10-20 s heartbeat check
    wait_for(lambda: health(env)["resubscribed"] >= 1, timeout_s=5, what="the bridge's resubscription counted")
    device = hv(env)
    device.ramp_rate = 50
    device.Off()
