"""The DHT22 sketch emulated on a pseudo-terminal by `up`, read by an EnvironmentSensor through pyserial."""

from __future__ import annotations

import tango

from conftest import emulator_control, start_station
from testkit import free_port, wait_for, write_station


def test_emulated_dht22_on_a_pseudo_terminal(tmp_path):
    def add_dht22(raw):
        raw["instruments"]["coldbox-dht22"] = {"model": "dht22", "resource": "run/coldbox-dht22", "emulated": True,
                                               "emulator": {"group": "coldbox", "control_port": free_port()}}
        server = next(s for s in raw["servers"] if s["name"] == "Environment/demo-coldbox")
        server["devices"].append({"name": "demo/env/coldbox-dht22", "class": "EnvironmentSensor",
                                  "instrument": "coldbox-dht22", "properties": {"stale_after": 3.0}})

    launcher = start_station(write_station(tmp_path, add_dht22))
    try:
        dht = tango.DeviceProxy(f"tango://{launcher.station.tango_host}/demo/env/coldbox-dht22")
        sht = tango.DeviceProxy(f"tango://{launcher.station.tango_host}/demo/env/coldbox")
        wait_for(lambda: dht.state() == tango.DevState.ON, timeout_s=15, what="DHT22 sensor ON")
        assert abs(dht.temperature - sht.temperature) < 0.5, "both sensors sit in the same emulated box"
        assert (tmp_path / "data" / "run" / "coldbox-dht22").is_symlink()
        control = emulator_control(launcher.station, "coldbox-dht22")
        control.send("set failing 1")  # the sketch prints "Failed to read from DHT sensor!"
        wait_for(lambda: dht.state() == tango.DevState.FAULT, timeout_s=10, what="FAULT while the sketch fails")
        control.send("set failing 0")
        wait_for(lambda: dht.state() == tango.DevState.ON, timeout_s=10, what="ON again")
    finally:
        launcher.stop()
