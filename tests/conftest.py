"""Shared fixtures: emulators in threads, station files on free ports, whole stations."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import pytest

# the checked station files the tests' commands remember (db/config/station_cache.py): the
# session's own folder, never the user's ~/.cache
os.environ.setdefault("TRACKERDCS_CACHE_DIR", tempfile.mkdtemp(prefix="trackerdcs-test-cache-"))

from db.config.validation import load_station
from devices.models import make_emulator
from devices.sim.clock import ManualClock
from devices.sim.hmp4040 import Hmp4040Model
from devices.sim.keithley2410 import Keithley2410Model
from devices.sim.server import EmulatorControl
from servers.launcher import StationLauncher

from testkit import Emulator, write_station


@pytest.fixture
def emulator():
    """Factory: emulator('keithley2410', manual_clock=True) served on free loopback ports."""
    started = []

    def make(model: str, manual_clock: bool = False) -> Emulator:
        clock = ManualClock() if manual_clock else None
        if clock is None:
            instance = make_emulator(model)
        elif model == "keithley2410":
            instance = Keithley2410Model(clock=clock)
        else:
            instance = Hmp4040Model(clock=clock)
        emu = Emulator(instance, clock)
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.server.stop()


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    """A whole demo station (database, emulators, device servers) for a test module."""
    tmp = tmp_path_factory.mktemp("station")
    loaded = load_station(write_station(tmp))
    launcher = StationLauncher(loaded)
    launcher.start(timeout_s=60)
    supervisor = threading.Thread(target=launcher.supervise, daemon=True)
    supervisor.start()
    os.environ["TANGO_HOST"] = loaded.tango_host
    yield launcher
    launcher.stop()
    supervisor.join(timeout=5)


def emulator_control(loaded, instrument: str) -> EmulatorControl:
    config = loaded.station.instruments[instrument]
    host = config.tcp_address[0] if config.tcp_address else "127.0.0.1"  # serial ones: loopback
    return EmulatorControl(host, config.control_port)


def bridge_station(tmp: Path, mqtt_port: int, archive: dict, extra=None) -> Path:
    """The demo station with its bridge pointed at real services."""

    def mutate(raw):
        raw["bridge"] = {"archive": archive, "mqtt": {"host": "127.0.0.1", "port": mqtt_port}}
        if extra is not None:
            extra(raw)

    return write_station(tmp, mutate)


def start_station(path: Path) -> StationLauncher:
    launcher = StationLauncher(load_station(path))
    launcher.start(timeout_s=60)
    thread = threading.Thread(target=launcher.supervise, daemon=True)
    thread.start()
    launcher.supervisor_thread = thread
    return launcher


def switch_on(lvs, hv, volts: float = 50.0) -> None:
    """LV channels at 2.5 V on, then the HV ramped to ``volts`` at 50 V/s (the interlock's permit asked)."""
    import tango

    from testkit import wait_for

    for lv in lvs:
        lv.current_limit = 1.0
        lv.voltage_setpoint = 2.5
        lv.On()
    wait_for(lambda: all(lv.state() == tango.DevState.ON for lv in lvs), what="LV on")
    hv.ramp_rate = 50
    hv.voltage_setpoint = volts
    hv.On()
    wait_for(lambda: hv.state() == tango.DevState.ON, timeout_s=10, what="HV on")
