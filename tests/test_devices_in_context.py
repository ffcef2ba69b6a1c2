"""Each device class in a DeviceTestContext (thread mode, in-process) against its emulator on a
loopback socket: the fast tier's view of the Tango adapters, with no database and no process."""

from __future__ import annotations

import json
import math
import time

import pytest
import tango
from tango.test_context import DeviceTestContext

from devices.chiller.device import Chiller
from devices.environment.device import EnvironmentSensor
from devices.models import make_emulator
from devices.power_supply.device import PowerSupplyChannel
from devices.safety.device import SafetyInterlock
from devices.sim.coldbox import ColdBox
from devices.sim.server import EmulatorServer

pytestmark = pytest.mark.unit  # in-process: no service, no child process


@pytest.fixture
def serve():
    servers = []

    def start(model: str, box: ColdBox | None = None) -> EmulatorServer:
        server = EmulatorServer(make_emulator(model, box)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def settled(device, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while device.state() == tango.DevState.INIT and time.monotonic() < deadline:
        time.sleep(0.05)
    return device.state()


def test_power_supply_channel_refuses_beyond_its_limit_and_ramps(serve):
    emulator = serve("keithley2410")
    properties = {"model": "keithley2410", "resource": emulator.resource, "voltage_max": 100.0,
                  "current_limit_max": 1e-4, "default_ramp_rate": 50.0, "ramp_required": True, "poll_period": 0.1}
    with DeviceTestContext(PowerSupplyChannel, properties=properties) as channel:
        assert settled(channel) == tango.DevState.OFF
        with pytest.raises(tango.DevFailed, match="voltage_setpoint 500 V is above the limit voltage_max = 100 V"):
            channel.voltage_setpoint = 500.0
        channel.current_limit = 1e-5
        channel.voltage_setpoint = 20.0
        channel.On()
        deadline = time.monotonic() + 10
        while channel.state() != tango.DevState.ON and time.monotonic() < deadline:
            time.sleep(0.05)
        assert channel.state() == tango.DevState.ON and channel.voltage == pytest.approx(20.0, abs=0.5)
        channel.Off()


@pytest.mark.parametrize("bad", [{"voltage_max": math.nan}, {"voltage_max": math.inf}, {"current_limit_max": 0.0},
                                 {"default_ramp_rate": 0.0, "ramp_required": True}])
def test_power_supply_channel_refuses_a_meaningless_limit_at_start(serve, bad):
    emulator = serve("keithley2410")
    properties = {"model": "keithley2410", "resource": emulator.resource, "voltage_max": 600.0,
                  "default_ramp_rate": 10.0, **bad}
    with DeviceTestContext(PowerSupplyChannel, properties=properties) as channel:
        assert channel.state() == tango.DevState.FAULT
        assert "configuration error" in channel.status()
        with pytest.raises(tango.DevFailed):
            channel.voltage_setpoint = 5000.0  # a NaN limit must not let this through
        assert emulator.model.snapshot()["setting_commands"] == 0, "a device refused at start wrote to the instrument"


def test_environment_sensor_reads_the_cold_box(serve):
    box = ColdBox()
    emulator = serve("sht85", box)
    with DeviceTestContext(EnvironmentSensor, properties={"model": "sht85", "resource": emulator.resource,
                                                          "poll_period": 0.1}) as sensor:
        assert settled(sensor) == tango.DevState.ON
        assert -50 < sensor.temperature < 60 and 0 <= sensor.humidity <= 100
        assert sensor.dew_point_margin == pytest.approx(sensor.temperature - sensor.dew_point, abs=0.05)


def test_chiller_refuses_a_setpoint_outside_its_limits(serve):
    emulator = serve("julabo")
    with DeviceTestContext(Chiller, properties={"model": "julabo", "resource": emulator.resource,
                                                "setpoint_min": -20.0, "setpoint_max": 20.0, "poll_period": 0.1}) as chiller:
        assert settled(chiller) == tango.DevState.OFF
        with pytest.raises(tango.DevFailed, match="setpoint"):
            chiller.setpoint = 35.0
        chiller.setpoint = 12.5
        deadline = time.monotonic() + 5
        while chiller.setpoint != pytest.approx(12.5) and time.monotonic() < deadline:
            time.sleep(0.05)  # observed from the instrument at the next poll, never assumed
        assert chiller.setpoint == pytest.approx(12.5)


def test_safety_interlock_refuses_a_rule_that_can_never_trip():
    rules = {"rules": [{"name": "dew", "when": {"attribute": "a/b/c/x", "below": math.nan},
                        "actions": [{"device": "a/b/d", "command": "Off"}]}], "permits": []}
    with DeviceTestContext(SafetyInterlock, properties={"rules": json.dumps(rules)}) as interlock:
        assert interlock.state() == tango.DevState.FAULT
        assert "finite number" in interlock.status()
