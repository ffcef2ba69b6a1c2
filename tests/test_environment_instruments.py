"""Cold-box instruments: pure parsing, drivers against their emulators (TCP and a pseudo-terminal),
and the sensor manager's staleness / stuck detection."""

from __future__ import annotations

import pytest

from devices.drivers.dht22_serial import Dht22SerialDriver, SensorReadFailed, parse_line
from devices.drivers.environment import dew_point
from devices.drivers.errors import ProtocolError
from devices.drivers.julabo import parse_status
from devices.environment.manager import EnvironmentSensorManager
from devices.models import open_driver
from devices.sim.coldbox import ColdBox
from devices.sim.environment import Dht22Pty, Sht85Model
from devices.sim.julabo import JulaboModel
from devices.sim.server import EmulatorControl, EmulatorServer

from testkit import wait_for

pytestmark = pytest.mark.unit  # in-process: no service, no child process


def test_dew_point_magnus():
    assert dew_point(20.0, 50.0) == pytest.approx(9.26, abs=0.01)
    assert dew_point(-20.0, 100.0) == pytest.approx(-20.0, abs=0.01)
    with pytest.raises(ValueError):
        dew_point(20.0, 0.0)


def test_dht22_lines():
    assert parse_line("Temperature: 23.50 *C\r") == ("temperature", 23.5)
    assert parse_line("Humidity: 45.00%") == ("humidity", 45.0)
    assert parse_line("Humidity: 45.00 %") == ("humidity", 45.0)
    assert parse_line("DHTxx test!") is None
    with pytest.raises(SensorReadFailed):
        parse_line("Failed to read from DHT sensor!")
    with pytest.raises(ProtocolError):
        parse_line("Temperature: 2#.5 *C")
    with pytest.raises(ProtocolError):
        parse_line("Humidity: 145.00%")


def test_julabo_status():
    assert parse_status("03 REMOTE START") == (3, "REMOTE START")
    assert parse_status("-01 TEMP. ALARM") == (-1, "TEMP. ALARM")
    with pytest.raises(ProtocolError):
        parse_status("garbage")


@pytest.fixture
def coldbox():
    box = ColdBox(tau_bath=0.5, tau_box=0.5, tau_humidity=0.5)
    servers = [EmulatorServer(Sht85Model(box)).start(), EmulatorServer(JulaboModel(box)).start()]
    yield box, servers[0], servers[1]
    for server in servers:
        server.stop()


def test_chiller_cools_the_box_the_sensor_sees(coldbox):
    box, sht, julabo = coldbox
    sensor = open_driver("sht85", sht.resource)
    chiller = open_driver("julabo", julabo.resource)
    sensor.verify()
    chiller.verify()
    chiller.set_setpoint(-10.0)
    chiller.set_running(True)
    wait_for(lambda: chiller.read().bath_temperature < -9.0, what="bath cold")
    assert chiller.read().running and chiller.read().status_text == "REMOTE START"
    wait_for(lambda: sensor.read().temperature < -8.0, what="box cold")
    EmulatorControl(*julabo.control_address).send("set alarm 1")
    assert chiller.read().alarm
    sensor.close()
    chiller.close()


def test_dht22_sketch_over_a_pseudo_terminal(tmp_path):
    box = ColdBox()
    sketch = Dht22Pty(box, link=tmp_path / "ttyDHT", period_s=0.1).start()
    try:
        driver = Dht22SerialDriver(str(tmp_path / "ttyDHT"))
        reading = wait_for(lambda: driver.read(), what="a DHT22 reading")
        assert 20 < reading.temperature < 22 and 0 < reading.humidity < 10
        later = wait_for(lambda: (r := driver.read()) and r.sequence > reading.sequence and r, what="a newer reading")
        assert later.sequence > reading.sequence
        driver.close()
    finally:
        sketch.stop()


def manager_for(server, **kwargs) -> EnvironmentSensorManager:
    manager = EnvironmentSensorManager(open_driver("sht85", server.resource, 0.5), poll_period_s=0.1, **kwargs)
    manager.start()
    return manager


def test_stale_sensor_is_a_fault_and_recovers(coldbox):
    box, sht, _ = coldbox
    manager = manager_for(sht, stale_after_s=1.0)
    try:
        wait_for(lambda: manager.status.state == "ON", what="ON")
        EmulatorControl(*sht.control_address).send("set dropout 1")
        wait_for(lambda: manager.status.state == "FAULT", timeout_s=5, what="stale FAULT")
        assert "stale" in manager.status.status and not manager.status.valid
        EmulatorControl(*sht.control_address).send("set dropout 0")
        wait_for(lambda: manager.status.state == "ON", timeout_s=5, what="ON again")
    finally:
        manager.stop()


def test_stuck_values_are_a_fault(coldbox):
    box, sht, _ = coldbox
    manager = manager_for(sht, stale_after_s=5.0, stuck_readings=3)
    try:
        wait_for(lambda: manager.status.state == "ON", what="ON")
        EmulatorControl(*sht.control_address).send("set stuck 1")
        wait_for(lambda: manager.status.state == "FAULT", timeout_s=10, what="stuck FAULT")
        assert "stuck" in manager.status.status
    finally:
        manager.stop()


def test_unreachable_sensor_is_a_fault(coldbox):
    box, sht, _ = coldbox
    manager = manager_for(sht)
    try:
        wait_for(lambda: manager.status.state == "ON", what="ON")
        EmulatorControl(*sht.control_address).send("disconnect")
        wait_for(lambda: manager.status.state == "FAULT", timeout_s=5, what="FAULT")
        assert "unreachable" in manager.status.status
        EmulatorControl(*sht.control_address).send("restore")
        wait_for(lambda: manager.status.state == "ON", timeout_s=10, what="ON again")
    finally:
        manager.stop()
