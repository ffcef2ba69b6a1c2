"""PowerSupplyChannel devices in real server processes of a running station, on the emulators."""

import time

import pytest
import tango

from devices.power_supply.manager import settled_tolerance

from conftest import emulator_control
from testkit import wait_for


def proxy(launcher, name: str) -> tango.DeviceProxy:
    device = tango.DeviceProxy(f"tango://{launcher.station.tango_host}/{name}")
    device.set_timeout_millis(3000)
    return device


@pytest.fixture
def hv(launcher):
    device = proxy(launcher, "demo/hv/module1")
    yield device
    control = emulator_control(launcher.station, "hv-k2410")
    control.send("restore")
    wait_for(lambda: device.state() != tango.DevState.FAULT, timeout_s=15, what="link back")
    if device.state() == tango.DevState.ALARM:
        wait_for(lambda: not device.output, what="trip ramp-down")
        device.Reset()
    if device.output:
        device.ramp_rate = 50
        device.Off()
        wait_for(lambda: device.state() == tango.DevState.OFF, timeout_s=20, what="OFF")


def test_hv_ramps_moving_then_on_with_events(hv):
    hv.ramp_rate = 50.0
    hv.voltage_setpoint = 100.0
    events = []
    event_id = hv.subscribe_event("voltage", tango.EventType.CHANGE_EVENT,
                                  lambda e: events.append((time.monotonic(), e.attr_value.value)) if not e.err else None)
    try:
        started = time.monotonic()
        hv.On()
        states = set()
        wait_for(lambda: states.add(hv.state()) or hv.state() == tango.DevState.ON, timeout_s=10, what="ON")
        elapsed = time.monotonic() - started
    finally:
        hv.unsubscribe_event(event_id)
    assert tango.DevState.MOVING in states
    assert 1.6 < elapsed < 4.5, f"100 V at 50 V/s took {elapsed:.2f} s"
    # ON means settled: within the manager's tolerance of the setpoint (the emulated output slews after the
    # last level write; a reading at 99.16 V is ON, as the tolerance says)
    assert hv.voltage == pytest.approx(100.0, abs=settled_tolerance(100.0))
    ramp = [(t, v) for t, v in events if 20 < v < 80]
    assert len(ramp) >= 3, events
    (t0, v0), (t1, v1) = ramp[0], ramp[-1]
    assert 25 < (v1 - v0) / (t1 - t0) < 90, "the voltage should follow ramp_rate (50 V/s)"


def test_setpoint_beyond_limit_is_refused_naming_it(hv):
    with pytest.raises(tango.DevFailed) as info:
        hv.voltage_setpoint = 5000.0
    error = info.value.args[0]
    assert error.reason == "PowerSupply_LimitExceeded"
    assert "voltage_max = 600 V" in error.desc
    assert hv.voltage_setpoint != 5000.0


def test_disconnect_gives_fault_with_reason_and_recovers_without_restart(launcher, hv):
    control = emulator_control(launcher.station, "hv-k2410")
    control.send("disconnect")
    wait_for(lambda: hv.state() == tango.DevState.FAULT, timeout_s=10, what="FAULT")
    assert "unreachable" in hv.status()
    with pytest.raises(tango.DevFailed, match="unreachable"):
        hv.On()
    control.send("restore")
    wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=15, what="OFF again")


def test_trip_gives_alarm_and_ramp_down(launcher, hv):
    hv.ramp_rate = 50.0
    hv.voltage_setpoint = 60.0
    hv.On()
    wait_for(lambda: hv.state() == tango.DevState.ON, timeout_s=10, what="ON")
    emulator_control(launcher.station, "hv-k2410").send("trip")
    wait_for(lambda: hv.state() == tango.DevState.ALARM, timeout_s=5, what="ALARM")
    assert hv.tripped
    seen = []
    wait_for(lambda: seen.append(hv.voltage) or not hv.output, timeout_s=10, what="ramped down, output off")
    assert any(0 < v < 55 for v in seen), f"no intermediate voltages during ramp-down: {seen}"
    assert "tripped" in hv.status()
    hv.Reset()
    wait_for(lambda: hv.state() == tango.DevState.OFF, what="OFF after Reset")


def test_lv_channels_share_one_instrument(launcher):
    ch1, ch2 = proxy(launcher, "demo/lv/module1-ch1"), proxy(launcher, "demo/lv/module1-ch2")
    ch1.current_limit = 1.0
    ch1.voltage_setpoint = 5.0
    ch1.On()
    try:
        wait_for(lambda: abs(ch1.voltage - 5.0) < 0.05, what="ch1 at 5 V")
        assert ch1.state() == tango.DevState.ON
        assert ch1.current == pytest.approx(0.5, abs=0.01)
        assert ch2.state() == tango.DevState.OFF and ch2.voltage == 0.0
    finally:
        ch1.Off()
    wait_for(lambda: ch1.state() == tango.DevState.OFF, what="ch1 OFF")


def test_killed_server_is_restarted_and_answers(launcher):
    import os
    import signal

    child = next(c for c in launcher.children if c.name == "server PowerSupply/demo-lv")
    old_pid = child.pid
    os.kill(old_pid, signal.SIGKILL)
    started = time.monotonic()
    ch1 = proxy(launcher, "demo/lv/module1-ch1")

    def answers():
        try:
            return child.pid != old_pid and ch1.state() in (tango.DevState.OFF, tango.DevState.ON)
        except tango.DevFailed:
            return False

    wait_for(answers, timeout_s=10, interval_s=0.2, what="restarted server answering")
    assert time.monotonic() - started < 10
    assert child.restarts >= 1
