"""The one testing kit of the tests and the benchmarks: free ports, the demo station on free ports,
waiting with a deadline, and emulators served in this process.

    sys.path.insert(0, "tests"); from testkit import free_port, write_station, wait_for
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from db.runtime import process
from devices.sim.server import EmulatorControl, EmulatorServer

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "stations" / "demo.yaml"


def free_port() -> int:
    """A free port below the ephemeral range, never one handed out before in this process
    (db/runtime/process.py keeps them: the launcher of a test's station shares the registry)."""
    return process.free_port()


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (a server's GIOP port and its ZMQ ports + 1, + 2)."""
    return process.free_ports(count)


def station_processes(tango_host: str) -> list[int]:
    """The PIDs of processes started for a station: each has its TANGO_HOST in its environment
    (looked up to check that nothing is left; never used to stop anything)."""
    import os

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"TANGO_HOST={tango_host}".encode() in environ:
            found.append(int(entry.name))
    return found


class Emulator:
    def __init__(self, model, clock=None):
        self.model = model
        self.clock = clock
        self.server = EmulatorServer(model).start()
        self.control = EmulatorControl(*self.server.control_address)

    @property
    def resource(self) -> str:
        return self.server.resource


def write_station(tmp_path: Path, mutate=None, name: str = "station.yaml", safety: bool = False,
                  daq: bool = False) -> Path:
    """The demo station on free ports with its data in tmp_path; mutate(raw) may edit it.

    Without ``safety`` the interlock (its rules, permits and server) is left out, so tests of
    other parts can switch the HV on without powering the LV first. Without ``daq`` the FC7 board
    (its Ph2AcfRunner server, its instrument and the run store) is left out too.
    """
    raw = yaml.safe_load(DEMO.read_text())
    if not safety:
        raw.pop("safety", None)
        raw["servers"] = [s for s in raw["servers"] if not any(d["class"] == "SafetyInterlock" for d in s["devices"])]
    if not daq:
        raw["servers"] = [s for s in raw["servers"]
                          if not any(d["class"] in ("Ph2AcfRunner", "BurnInSequencer") for d in s["devices"])]
        raw.pop("sequences", None)
        raw["instruments"] = {k: v for k, v in raw["instruments"].items() if v["model"] != "fc7"}
        for rule in (raw.get("safety") or {}).get("rules", []):
            rule["actions"] = [a for a in rule["actions"] if not a["device"].startswith("demo/daq/")]
        if raw.get("safety"):
            raw["safety"]["permits"] = [p for p in raw["safety"]["permits"] if not p["device"].startswith("demo/daq/")]
    raw["data_dir"] = str(tmp_path / "data")
    raw["tango"]["database"]["embedded"]["port"] = free_port()
    for instrument in raw["instruments"].values():
        if instrument["model"] == "fc7":  # an FC7 has an IPbus URI: its emulator is a program, not a port
            continue
        port = free_port()
        instrument["resource"] = f"TCPIP::127.0.0.1::{port}::SOCKET"
        instrument["emulator"] = {**instrument.get("emulator", {}), "control_port": free_port()}
    raw["bridge"]["mqtt"]["embedded"]["port"] = free_port()
    raw["runs"]["store"]["embedded"]["port"] = free_port()
    if mutate is not None:
        mutate(raw)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def wait_for(predicate, timeout_s: float = 10.0, interval_s: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


def leaves(node, path=()):
    """The key path of every scalar in a nested dict/list (station-file mutants replace them)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, path + (i,))
    else:
        yield path


# Grafana's rangeutil.roundInterval: the bucket it picks for (range / maxDataPoints), in ms
ROUNDING = [(15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000), (3500, 2000),
            (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000), (90000, 60000),
            (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000), (1500000, 1200000),
            (2700000, 1800000), (5400000, 3600000), (9000000, 7200000), (16200000, 10800000),
            (32400000, 21600000), (86400000, 43200000)]


def grafana_interval(range_s: float, max_points: int, min_interval_s: float) -> str:
    raw = max(range_s * 1000 / max_points, min_interval_s * 1000)
    rounded = next((value for limit, value in ROUNDING if raw < limit), 86400000)
    return f"{max(rounded, int(min_interval_s * 1000))}ms"


def grafana_substitute(query: str, range_s: float, panel: dict) -> str:
    """A dashboard query as Grafana sends it for the last ``range_s`` seconds."""
    interval = grafana_interval(range_s, panel.get("maxDataPoints", 1000), 1.0)
    return query.replace("$timeFilter", f"time > now() - {int(range_s)}s").replace("$__interval", interval)
