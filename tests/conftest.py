"""Shared fixtures: emulators in threads, station files on free ports, whole stations."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import yaml

from db.config.validation import load_station
from db.runtime import process
from devices.models import make_emulator
from devices.sim.clock import ManualClock
from devices.sim.hmp4040 import Hmp4040Model
from devices.sim.keithley2410 import Keithley2410Model
from devices.sim.server import EmulatorControl, EmulatorServer
from servers.launcher import StationLauncher

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "stations" / "demo.yaml"


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free port below the ephemeral range (db/runtime/process.py), never one handed out before in this
    test run: two ports asked for in a row (the emulators of one station file) must differ."""
    while True:
        port = process.free_port()
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class Emulator:
    def __init__(self, model, clock=None):
        self.model = model
        self.clock = clock
        self.server = EmulatorServer(model).start()
        self.control = EmulatorControl(*self.server.control_address)

    @property
    def resource(self) -> str:
        return self.server.resource


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


def write_station(tmp_path: Path, mutate=None, name: str = "station.yaml", safety: bool = False) -> Path:
    """The demo station on free ports with its data in tmp_path; mutate(raw) may edit it.

    Without ``safety`` the interlock (its rules, permits and server) is left out, so tests of
    other parts can switch the HV on without powering the LV first.
    """
    raw = yaml.safe_load(DEMO.read_text())
    if not safety:
        raw.pop("safety", None)
        raw["servers"] = [s for s in raw["servers"] if not any(d["class"] == "SafetyInterlock" for d in s["devices"])]
    raw["data_dir"] = str(tmp_path / "data")
    raw["tango"]["database"]["embedded"]["port"] = free_port()
    for instrument in raw["instruments"].values():
        port = free_port()
        instrument["resource"] = f"TCPIP::127.0.0.1::{port}::SOCKET"
        instrument["emulator"] = {**instrument.get("emulator", {}), "control_port": free_port()}
    raw["bridge"]["mqtt"]["embedded"]["port"] = free_port()
    if mutate is not None:
        mutate(raw)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def station(tmp_path_factory):
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
