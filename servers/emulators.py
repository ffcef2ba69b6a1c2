"""The emulators of a station's emulated instruments: one process per emulator group (the
instruments of a group share one physical model, e.g. a cold box's sensor and chiller).
`up` runs them as its children; `trackerdcs sim station` runs them in the foreground (the stack's
emulators container)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

from db.config.station import LoadedStation
from db.runtime import process
from devices.models import process_emulated


@dataclass
class EmulatorGroup:
    name: str
    args: list[str]  # python -m devices.sim ...
    ready: list[tuple[str, int]]  # ports that answer once it serves
    listens: list[tuple[str, int, str]]  # (host, port, what) it binds: must be free before it starts


def groups(station: LoadedStation) -> list[EmulatorGroup]:
    members: dict[str, list[str]] = {}
    for name, instrument in station.station.instruments.items():
        if instrument.emulated and instrument.model not in process_emulated():
            members.setdefault(instrument.emulator.group or name, []).append(name)
    result = []
    for group, names in members.items():
        specs, ready, listens = [], [], []
        for name in names:
            instrument = station.station.instruments[name]
            serial = station.serial_port(instrument)
            if serial is not None:
                specs += ["--pty", f"{instrument.model}@{serial}/{instrument.emulator.control_port}"]
                ready.append(("127.0.0.1", instrument.emulator.control_port))
                continue
            host, port = instrument.tcp_address
            control = instrument.control_port
            listens += [(host, port, f"emulator of {name}"), (host, control, f"emulator control of {name}")]
            specs += ["--serve", f"{instrument.model}@{host}:{port}/{control}"]
            ready.append((host, port))
        result.append(EmulatorGroup(group, [sys.executable, "-m", "devices.sim", *specs], ready, listens))
    return result


def serving(station: LoadedStation) -> list[str]:
    """The emulator ports of the station that do not answer (empty: all serve)."""
    return [f"{host}:{port} ({group.name})" for group in groups(station) for host, port in group.ready
            if not process.port_open(host, port)]


def run_foreground(station: LoadedStation, ready_timeout_s: float = 20.0) -> int:
    """Run every group until one exits or a signal stops us; return the exit code."""
    children = []
    try:
        for group in groups(station):
            for host, port, what in group.listens:
                process.check_port_free(host, port, what)
            children.append(subprocess.Popen(group.args, env=dict(os.environ, PYTHONUNBUFFERED="1")))
        deadline = time.monotonic() + ready_timeout_s
        while serving(station):
            if time.monotonic() > deadline or any(c.poll() is not None for c in children):
                print(f"emulators not serving: {', '.join(serving(station))}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        print(f"{len(children)} emulator process(es) serving", file=sys.stderr, flush=True)
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
        return next(c.returncode for c in children if c.returncode is not None)
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                process.stop_pid(child.pid)
