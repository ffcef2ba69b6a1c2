"""Drivers against the emulators over real TCP sockets (pyvisa-py), with an injected clock."""

import pytest

from devices.drivers.errors import ProtocolError, TransportError
from devices.models import open_driver

pytestmark = pytest.mark.unit  # in-process: no service, no child process


def test_keithley_readback_follows_level_at_slew(emulator):
    emu = emulator("keithley2410", manual_clock=True)
    driver = open_driver("keithley2410", emu.resource)
    driver.set_voltage(1, 200)
    driver.set_output(1, True)
    emu.clock.advance(0.1)  # 500 V/s slew -> 50 V
    assert driver.read_channel(1).voltage == pytest.approx(50.0)
    emu.clock.advance(1.0)
    reading = driver.read_channel(1)
    assert reading.voltage == pytest.approx(200.0)
    assert reading.voltage_setpoint == pytest.approx(200.0)
    driver.close()


def test_leakage_grows_with_voltage_and_doubles_every_7_kelvin(emulator):
    emu = emulator("keithley2410", manual_clock=True)
    driver = open_driver("keithley2410", emu.resource)
    driver.set_output(1, True)
    currents = []
    for volts in (50, 150, 300):
        driver.set_voltage(1, volts)
        emu.clock.advance(2)
        currents.append(driver.read_channel(1).current)
    assert currents[0] < currents[1] < currents[2]
    emu.control.send("set temperature 27")
    warm = driver.read_channel(1).current
    assert warm / currents[2] == pytest.approx(2.0, rel=1e-3)
    driver.close()


def test_compliance_trip(emulator):
    emu = emulator("keithley2410", manual_clock=True)
    driver = open_driver("keithley2410", emu.resource)
    driver.set_current_limit(1, 1e-6)
    driver.set_voltage(1, 500)
    driver.set_output(1, True)
    emu.clock.advance(2)
    reading = driver.read_channel(1)
    assert reading.tripped and reading.current == pytest.approx(1e-6)
    driver.set_output(1, False)
    assert not driver.read_channel(1).tripped
    driver.close()


def test_injected_trip_and_hmp_fuse(emulator):
    emu = emulator("hmp4040", manual_clock=True)
    driver = open_driver("hmp4040", emu.resource)
    driver.set_current_limit(2, 2.0)
    driver.set_voltage(2, 5.0)
    driver.set_output(2, True)
    emu.clock.advance(1)
    reading = driver.read_channel(2)
    assert reading.voltage == pytest.approx(5.0) and reading.current == pytest.approx(0.5)  # 10 ohm load
    emu.control.send("trip 2")
    reading = driver.read_channel(2)
    assert reading.tripped and not reading.output
    assert not driver.read_channel(1).tripped
    driver.close()


def test_hmp_constant_current_mode(emulator):
    emu = emulator("hmp4040", manual_clock=True)
    driver = open_driver("hmp4040", emu.resource)
    emu.control.send("set load 1 2.0")
    driver.set_current_limit(1, 1.0)
    driver.set_voltage(1, 10.0)
    driver.set_output(1, True)
    emu.clock.advance(1)
    reading = driver.read_channel(1)
    assert reading.current == pytest.approx(1.0) and reading.voltage == pytest.approx(2.0)
    driver.close()


def test_out_of_range_setting_reports_instrument_error(emulator):
    from devices.drivers.errors import InstrumentReportedError

    emu = emulator("hmp4040")
    driver = open_driver("hmp4040", emu.resource)
    with pytest.raises(InstrumentReportedError, match="-222"):
        driver.set_voltage(1, 40.0)
    driver.close()


@pytest.mark.parametrize("fault, error", [("garbage", ProtocolError), ("silent", TransportError),
                                          ("disconnect", TransportError)])
def test_faults_raise_named_errors_and_restore(emulator, fault, error):
    emu = emulator("keithley2410")
    driver = open_driver("keithley2410", emu.resource, timeout_s=0.3)
    driver.identify()
    emu.control.send(fault)
    with pytest.raises(error):
        driver.read_channel(1)
    emu.control.send("restore")
    driver.drain_errors()
    assert driver.read_channel(1).output is False
    driver.close()


def test_slow_replies_still_answer(emulator):
    emu = emulator("hmp4040")
    driver = open_driver("hmp4040", emu.resource, timeout_s=1.0)
    emu.control.send("slow 0.2")
    assert driver.identify()[1] == "HMP4040"
    emu.control.send("slow 1.5")
    with pytest.raises(TransportError):
        driver.identify()
    driver.close()


def test_control_port_rejects_unknown_commands(emulator):
    emu = emulator("hmp4040")
    with pytest.raises(RuntimeError, match="unknown command"):
        emu.control.send("explode")
    with pytest.raises(RuntimeError, match="unknown HMP4040 parameter"):
        emu.control.send("set voltage 3")
    assert emu.control.state()["faults"]["disconnected"] is False
