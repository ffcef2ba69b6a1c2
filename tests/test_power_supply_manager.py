"""The component manager against the emulators: ramps, trips, link loss, restarts."""

import time

import pytest

from devices.models import open_driver
from devices.polling import CommandRefused
from devices.power_supply.manager import PowerSupplyChannelManager
from devices.power_supply.model import ChannelLimits, ChannelState, LimitError

from testkit import wait_for

pytestmark = pytest.mark.unit  # in-process: no service, no child process

HV_LIMITS = ChannelLimits(voltage_min=0, voltage_max=600, current_limit_max=1e-4, ramp_rate_max=200, ramp_required=True)


@pytest.fixture
def hv(emulator):
    emu = emulator("keithley2410")
    managers = []

    def make(ramp_rate=100.0):
        updates = []
        manager = PowerSupplyChannelManager(open_driver("keithley2410", emu.resource, timeout_s=0.3), 1,
                                            HV_LIMITS, ramp_rate=ramp_rate, poll_period_s=0.1, on_update=updates.append)
        manager.updates = updates
        manager.start()
        managers.append(manager)
        wait_for(lambda: manager.status.state == ChannelState.OFF, what="OFF after start")
        return manager

    make.emu = emu
    yield make
    for manager in managers:
        manager.stop()
        manager.driver.close()


def test_on_ramps_at_ramp_rate_then_on(hv):
    manager = hv(ramp_rate=100.0)
    manager.set_voltage_setpoint(100)
    assert hv.emu.control.state()["level"] == 0.0  # output off: nothing sourced yet
    started = time.monotonic()
    manager.on()
    wait_for(lambda: manager.status.state == ChannelState.MOVING, what="MOVING")
    mid = wait_for(lambda: manager.status if 30 < manager.status.voltage < 70 else None, what="mid-ramp")
    assert mid.state == ChannelState.MOVING
    wait_for(lambda: manager.status.state == ChannelState.ON, what="ON")
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 3.0, f"100 V at 100 V/s took {elapsed:.2f} s"
    assert manager.status.voltage == pytest.approx(100, abs=1)
    levels = [u.source_level for u in manager.updates if u.state == ChannelState.MOVING]
    assert max(b - a for a, b in zip(levels, levels[1:])) < 30, "the ramp jumped"


def test_off_ramps_down_before_opening_output(hv):
    manager = hv(ramp_rate=200.0)
    manager.set_voltage_setpoint(100)
    manager.on()
    wait_for(lambda: manager.status.state == ChannelState.ON)
    manager.off()
    wait_for(lambda: manager.status.state == ChannelState.OFF, what="OFF")
    ramp_down = [u for u in manager.updates if "then output off" in u.status]
    assert ramp_down and all(u.output for u in ramp_down)
    assert any(0 < u.source_level < 100 for u in ramp_down)


def test_limits_are_refused_with_the_limit_named(hv):
    manager = hv()
    with pytest.raises(LimitError, match="voltage_max = 600 V"):
        manager.set_voltage_setpoint(5000)
    with pytest.raises(LimitError, match="current_limit_max"):
        manager.set_current_limit(1.0)
    with pytest.raises(LimitError, match="not allowed on a high-voltage channel"):
        manager.set_ramp_rate(0)
    with pytest.raises(LimitError, match="finite"):
        manager.set_voltage_setpoint(float("nan"))


def test_trip_goes_to_alarm_and_ramps_down(hv):
    manager = hv(ramp_rate=200.0)
    manager.set_voltage_setpoint(100)
    manager.on()
    wait_for(lambda: manager.status.state == ChannelState.ON)
    hv.emu.control.send("trip")
    wait_for(lambda: manager.status.state == ChannelState.ALARM, what="ALARM")
    wait_for(lambda: not manager.status.output, what="output off after ramp-down")
    assert manager.status.state == ChannelState.ALARM and manager.status.tripped
    assert manager.status.last_trip.current == pytest.approx(1.05e-4)
    with pytest.raises(CommandRefused, match="Reset"):
        manager.on()
    manager.reset()
    wait_for(lambda: manager.status.state == ChannelState.OFF, what="OFF after Reset")


def test_lost_link_is_fault_and_comes_back_without_restart(hv):
    manager = hv()
    hv.emu.control.send("disconnect")
    wait_for(lambda: manager.status.state == ChannelState.FAULT, what="FAULT")
    assert "unreachable" in manager.status.status
    with pytest.raises(CommandRefused, match="unreachable"):
        manager.on()
    hv.emu.control.send("restore")
    wait_for(lambda: manager.status.state == ChannelState.OFF, timeout_s=15, what="back to OFF")


def test_restart_adopts_the_instrument_state_and_writes_nothing(hv):
    first = hv(ramp_rate=200.0)
    first.set_voltage_setpoint(150)
    first.on()
    wait_for(lambda: first.status.state == ChannelState.ON)
    first.stop()
    writes = hv.emu.control.state()["setting_commands"]
    second = PowerSupplyChannelManager(open_driver("keithley2410", hv.emu.resource), 1, HV_LIMITS,
                                       ramp_rate=50, poll_period_s=0.1)
    second.start()
    try:
        wait_for(lambda: second.status.state == ChannelState.ON, what="ON after restart")
        assert second.status.voltage_setpoint == pytest.approx(150)
        time.sleep(0.3)
        assert hv.emu.control.state()["setting_commands"] == writes
    finally:
        second.stop()
        second.driver.close()
