"""EnvironmentSensor and Chiller devices in the running demo station, on the cold-box emulator."""

from __future__ import annotations

import pytest
import tango

from devices.drivers.environment import dew_point

from conftest import emulator_control
from testkit import wait_for


def proxy(launcher, name):
    device = tango.DeviceProxy(f"tango://{launcher.station.tango_host}/{name}")
    device.set_timeout_millis(3000)
    return device


def test_sensor_reports_temperature_humidity_and_dew_point(launcher):
    sensor = proxy(launcher, "demo/env/coldbox")
    wait_for(lambda: sensor.state() == tango.DevState.ON, what="sensor ON")
    emulator_control(launcher.station, "coldbox-sht85").send("set humidity 60")
    wait_for(lambda: sensor.humidity > 50, timeout_s=10, what="humidity rising")
    values = sensor.read_attributes(["temperature", "humidity", "dew_point", "dew_point_margin"])
    t, rh, td, margin = (v.value for v in values)
    assert td == pytest.approx(dew_point(t, rh), abs=0.01)
    assert margin == pytest.approx(t - td, abs=0.01)
    assert sensor.get_attribute_config("humidity").unit == "%"
    emulator_control(launcher.station, "coldbox-sht85").send("set humidity 3")


def test_chiller_setpoint_limits_start_and_stop(launcher):
    chiller = proxy(launcher, "demo/env/chiller")
    wait_for(lambda: chiller.state() == tango.DevState.OFF, what="chiller OFF")
    with pytest.raises(tango.DevFailed) as info:
        chiller.setpoint = 50.0
    assert info.value.args[0].reason == "Chiller_LimitExceeded"
    assert "setpoint_max = 25 C" in info.value.args[0].desc
    chiller.setpoint = -10.0
    wait_for(lambda: chiller.setpoint == -10.0, what="setpoint read back")
    chiller.Start()
    wait_for(lambda: chiller.state() == tango.DevState.ON and chiller.running, what="running")
    wait_for(lambda: chiller.bath_temperature < 20.5, timeout_s=15, what="bath cooling")
    chiller.Stop()
    wait_for(lambda: chiller.state() == tango.DevState.OFF, what="stopped")


def test_chiller_alarm_is_observed(launcher):
    chiller = proxy(launcher, "demo/env/chiller")
    control = emulator_control(launcher.station, "coldbox-julabo")
    control.send("set alarm 1")
    try:
        wait_for(lambda: chiller.state() == tango.DevState.ALARM, what="ALARM")
        assert "TEMP. ALARM" in chiller.status()
        with pytest.raises(tango.DevFailed, match="in alarm"):
            chiller.Start()
    finally:
        control.send("set alarm 0")
    wait_for(lambda: chiller.state() == tango.DevState.OFF, what="alarm cleared")
