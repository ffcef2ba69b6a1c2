"""The SafetyInterlock in a running station, on the emulators, through the real Tango devices."""

from __future__ import annotations

import json
import time

import pytest
import tango

from conftest import emulator_control, start_station, switch_on
from testkit import wait_for, write_station

HV, LV, SENSOR, SAFETY = "demo/hv/module1", "demo/lv/module1-ch1", "demo/env/coldbox", "demo/safety/interlock"


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    def faster(raw):
        sensor = next(d for s in raw["servers"] for d in s["devices"] if d["name"] == SENSOR)
        sensor["properties"].update(poll_period=0.2, stale_after=2.0)
        raw["safety"]["grace_period"] = 1.0

    launcher = start_station(write_station(tmp_path_factory.mktemp("interlock"), faster, safety=True))
    yield launcher
    launcher.stop()


def proxy(launcher, name):
    device = tango.DeviceProxy(f"tango://{launcher.station.tango_host}/{name}")
    device.set_timeout_millis(5000)
    return device


@pytest.fixture
def powered(launcher):
    """LV on, HV at 50 V; afterwards everything off and every rule reset."""
    lv, hv, safety = proxy(launcher, LV), proxy(launcher, HV), proxy(launcher, SAFETY)
    wait_for(lambda: safety.state() == tango.DevState.ON, timeout_s=15, what="interlock armed")
    switch_on([lv], hv)
    yield lv, hv, safety
    for name in ("hv-k2410", "lv-hmp4040", "coldbox-sht85"):
        emulator_control(launcher.station, name).send("restore")
    sensor = emulator_control(launcher.station, "coldbox-sht85")
    sensor.send("set humidity 3")
    sensor.send("set dropout 0")
    wait_for(lambda: lv.state() != tango.DevState.FAULT and proxy(launcher, SENSOR).state() == tango.DevState.ON,
             timeout_s=15, what="instruments back")
    if hv.state() != tango.DevState.OFF:
        hv.Off()
    wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=15, what="HV off")
    lv.Off()
    for entry in safety.rule_states:
        name, label = entry.split(": ", 1)
        if label.startswith("TRIPPED"):
            safety.Acknowledge(name)
            wait_for(lambda n=name: _reset(safety, n), timeout_s=10, what=f"reset {name}")


def _reset(safety, name) -> bool:
    try:
        safety.Reset(name)
        return True
    except tango.DevFailed:
        return False


def test_hv_on_refused_while_lv_is_off(launcher):
    hv, lv = proxy(launcher, HV), proxy(launcher, LV)
    wait_for(lambda: proxy(launcher, SAFETY).state() == tango.DevState.ON, timeout_s=15, what="armed")
    assert lv.state() == tango.DevState.OFF
    with pytest.raises(tango.DevFailed) as info:
        hv.On()
    assert info.value.args[0].reason == "PowerSupply_InterlockRefused"
    assert info.value.args[0].desc == f"On refused: {LV} is OFF, needs ON"
    assert hv.state() == tango.DevState.OFF


def test_rising_humidity_ramps_hv_down_and_records_the_trip(launcher, powered):
    lv, hv, safety = powered
    sensor = emulator_control(launcher.station, "coldbox-sht85")
    started = time.time()
    sensor.send("set humidity 95")  # 21 C at 95 % RH: dew point ~20 C, margin < 3 K
    wait_for(lambda: safety.state() == tango.DevState.ALARM, timeout_s=10, what="interlock ALARM")
    wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=15, what="HV ramped down and off")
    trip = json.loads(safety.last_trip)
    assert trip["rule"] == "coldbox-dew-point" and trip["actions"][0]["result"] == "ok"
    values = trip["values"]
    margin = values[f"attr:{SENSOR}/temperature"] - values[f"attr:{SENSOR}/dew_point"]
    assert margin < 3.0 and trip["time"] >= started
    assert "coldbox-dew-point: TRIPPED" in safety.rule_states
    with pytest.raises(tango.DevFailed, match="coldbox-dew-point"):
        hv.On()
    with pytest.raises(tango.DevFailed, match="not acknowledged"):
        safety.Reset("coldbox-dew-point")


def test_one_spike_does_not_trip(launcher, powered):
    lv, hv, safety = powered
    emulator_control(launcher.station, "coldbox-sht85").send("set spikes 1")
    time.sleep(2.0)  # ten sensor readings at 0.2 s
    assert safety.state() == tango.DevState.ON
    assert hv.state() == tango.DevState.ON


def test_stale_sensor_trips(launcher, powered):
    lv, hv, safety = powered
    emulator_control(launcher.station, "coldbox-sht85").send("set dropout 1")
    wait_for(lambda: proxy(launcher, SENSOR).state() == tango.DevState.FAULT, timeout_s=10, what="sensor stale")
    wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=15, what="HV off")
    assert json.loads(safety.last_trip)["rule"] == "coldbox-sensor-fault"


def test_lost_lv_link_switches_hv_off(launcher, powered):
    lv, hv, safety = powered
    emulator_control(launcher.station, "lv-hmp4040").send("disconnect")
    wait_for(lambda: lv.state() == tango.DevState.FAULT, timeout_s=10, what="LV FAULT")
    wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=15, what="HV off")
    assert json.loads(safety.last_trip)["rule"] == "module1-lv-lost"


def cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "trackerdcs", *args], capture_output=True, text=True, timeout=180)


def test_power_on_and_off_in_order_and_alarm_list(launcher):
    path = str(launcher.station.path)
    wait_for(lambda: proxy(launcher, SAFETY).state() == tango.DevState.ON, timeout_s=15, what="armed")
    on = cli("power", "on", "demo-module", "-s", path, "--hv", "60")
    assert on.returncode == 0, on.stdout + on.stderr
    steps = [line[3:] for line in on.stdout.splitlines() if line.startswith("ok ")]
    assert steps.index("LV demo/lv/module1-ch1 setpoint 10.5 V") < steps.index("LV demo/lv/module1-ch1 On")
    assert steps.index("LV demo/lv/module1-ch1 stable") < steps.index("HV demo/hv/module1 setpoint 60 V")
    assert steps[-1] == "HV demo/hv/module1 ramped up"
    assert proxy(launcher, LV).voltage == pytest.approx(10.5, abs=0.05)  # the module's lv_volts
    assert proxy(launcher, HV).voltage == pytest.approx(60, abs=1)
    off = cli("power", "off", "demo-module", "-s", path)
    assert off.returncode == 0, off.stdout + off.stderr
    steps = [line[3:] for line in off.stdout.splitlines() if line.startswith("ok ")]
    assert steps[:2] == ["HV demo/hv/module1 Off (ramp down)", "HV demo/hv/module1 OFF"]
    assert proxy(launcher, LV).state() == tango.DevState.OFF
    unknown = cli("power", "on", "no-such-module", "-s", path)
    assert unknown.returncode == 1 and "unknown module 'no-such-module' (modules: demo-module)" in unknown.stderr
    listing = cli("alarms", path, "--json")
    records = json.loads(listing.stdout)
    trips = [r for r in records if r["source"] == "interlock"]
    assert {r["id"] for r in trips} >= {"coldbox-dew-point", "coldbox-sensor-fault", "module1-lv-lost"}
    assert all(r["cleared"] for r in trips), "every trip of the earlier tests was acknowledged and reset"
    assert any(r["source"] == "attribute" and r["id"] == f"{SENSOR}/humidity" for r in records)


def test_power_on_stops_where_the_interlock_refuses(launcher):
    emulator_control(launcher.station, "coldbox-sht85").send("set humidity 95")
    safety = proxy(launcher, SAFETY)
    try:
        wait_for(lambda: "coldbox-dew-point: UNSAFE" in safety.rule_states or safety.state() == tango.DevState.ALARM,
                 what="unsafe box")
        result = cli("power", "on", "demo-module", "-s", str(launcher.station.path))
        assert result.returncode == 1
        assert "stopped at 'HV demo/hv/module1 On" in result.stderr and "coldbox-dew-point" in result.stderr
        assert proxy(launcher, HV).state() == tango.DevState.OFF
    finally:
        emulator_control(launcher.station, "coldbox-sht85").send("set humidity 3")
        cli("power", "off", "demo-module", "-s", str(launcher.station.path))
        wait_for(lambda: not safety.rule_states or all("UNSAFE" not in s for s in safety.rule_states), what="box dry")
        for entry in safety.rule_states:
            name, label = entry.split(": ", 1)
            if label.startswith("TRIPPED"):
                safety.Acknowledge(name)
                safety.Reset(name)


def test_restarting_every_server_re_applies_nothing_and_re_fires_nothing(launcher):
    import os
    import signal

    from devices import alarm_log as alarms

    path = str(launcher.station.path)
    assert cli("power", "on", "demo-module", "-s", path, "--hv", "60").returncode == 0
    sensor = emulator_control(launcher.station, "coldbox-sht85")
    sensor.send("set humidity 60")  # an attribute alarm (max_alarm 50 %), the box still far from condensing
    alarm_file = alarms.alarm_file(launcher.station.data_dir)
    wait_for(lambda: any(r.id == f"{SENSOR}/humidity" and r.active for r in alarms.records(alarm_file)),
             timeout_s=15, what="humidity alarm raised")
    time.sleep(1.5)
    raised_before = sum(1 for r in alarms.records(alarm_file))
    hv_emulator = emulator_control(launcher.station, "hv-k2410")
    writes_before = hv_emulator.state()["setting_commands"]
    children = [c for c in launcher.children if c.name.startswith("server ") or c.name == "bridge"]
    old = {c.name: c.pid for c in children}
    for child in children:
        os.kill(child.pid, signal.SIGKILL)
    wait_for(lambda: all(c.pid != old[c.name] and c.running() for c in children), timeout_s=30, what="all restarted")
    hv = proxy(launcher, HV)
    wait_for(lambda: _answers(hv), timeout_s=20, what="HV answering again")
    wait_for(lambda: _state(proxy(launcher, SAFETY)) == tango.DevState.ON, timeout_s=20, what="interlock armed again")
    time.sleep(3)  # let the bridge and the interlock see the station again
    assert hv.state() == tango.DevState.ON and hv.output
    assert hv.voltage == pytest.approx(60, abs=1) and hv.voltage_setpoint == pytest.approx(60, abs=0.01)
    assert hv_emulator.state()["setting_commands"] == writes_before, "a restart must not write to the instrument"
    assert sum(1 for r in alarms.records(alarm_file)) == raised_before, "an active alarm was raised again as new"
    sensor.send("set humidity 3")
    assert cli("power", "off", "demo-module", "-s", path).returncode == 0


def _state(device):
    """The state, or None while the restarted server does not answer yet (pytango delays reconnects by 1 s)."""
    try:
        return device.state()
    except tango.DevFailed:
        return None


def _answers(device) -> bool:
    try:
        return device.state() not in (tango.DevState.INIT,)
    except tango.DevFailed:
        return False


def clear_latches(safety) -> None:
    """Acknowledge and reset whatever an earlier test (or a restart) left latched."""
    wait_for(lambda: safety.state() in (tango.DevState.ON, tango.DevState.ALARM), timeout_s=30, what="armed")
    for entry in safety.rule_states:
        name, label = entry.split(": ", 1)
        if label.startswith("TRIPPED"):
            safety.Acknowledge(name)
            wait_for(lambda n=name: _reset(safety, n), timeout_s=15, what=f"reset {name}")
    wait_for(lambda: safety.state() == tango.DevState.ON, timeout_s=15, what="all rules clear")


def test_power_sequence_as_interlock_commands(launcher):
    safety, hv = proxy(launcher, SAFETY), proxy(launcher, HV)
    clear_latches(safety)
    hv.voltage_setpoint = 40
    safety.PowerOn("demo-module")
    wait_for(lambda: not safety.sequencing, timeout_s=60, what="sequence finished")
    log = list(safety.sequence_log)
    assert log[-1] == "done: demo-module is on", log
    assert hv.state() == tango.DevState.ON
    with pytest.raises(tango.DevFailed, match="unknown module 'nope'"):
        safety.PowerOn("nope")
    safety.PowerOff("demo-module")
    wait_for(lambda: not safety.sequencing, timeout_s=60, what="off sequence finished")
    assert list(safety.sequence_log)[-1] == "done: demo-module is off"
    assert hv.state() == tango.DevState.OFF and proxy(launcher, LV).state() == tango.DevState.OFF


@pytest.mark.parametrize("volts", ["5000", "-5", "nan", "inf", "1e308"])
def test_power_on_refuses_a_bad_hv_setpoint_before_switching_anything(launcher, volts):
    lv = proxy(launcher, LV)
    wait_for(lambda: lv.state() == tango.DevState.OFF, timeout_s=20, what="LV off before the test")
    result = cli("power", "on", "demo-module", "-s", str(launcher.station.path), "--hv", volts)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "nothing was switched" in result.stderr or "not a finite number" in result.stderr, result.stderr
    assert "-> LV" not in result.stdout, "a step ran before the check"
    time.sleep(1.0)
    assert lv.state() == tango.DevState.OFF and not lv.output


def test_a_second_up_of_the_running_station_changes_nothing(launcher):
    from servers.launcher import state_file

    before = state_file(launcher.station).read_text()
    result = cli("up", str(launcher.station.path))
    assert result.returncode == 1 and "is already up" in result.stderr, result.stderr
    assert state_file(launcher.station).read_text() == before, "the running station's state file was touched"
    status = cli("status", str(launcher.station.path), "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["bridge"]["status"] == "ok", status.stdout


def test_up_of_a_copy_on_the_same_ports_is_refused_before_any_write(launcher, tmp_path):
    import yaml

    database = tango.Database(*launcher.station.tango_host.split(":"))
    trip_log = database.get_device_property(SAFETY, ["trip_log"])["trip_log"]
    raw = yaml.safe_load(launcher.station.path.read_text())
    raw["data_dir"] = str(tmp_path / "copy-data")
    copy = tmp_path / "copy.yaml"
    copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    result = cli("up", str(copy))
    assert result.returncode == 1 and "in use, and not by this station's database" in result.stderr, result.stderr
    assert database.get_device_property(SAFETY, ["trip_log"])["trip_log"] == trip_log
    assert not (tmp_path / "copy-data" / "run" / "station.json").exists()
