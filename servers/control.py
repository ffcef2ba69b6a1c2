"""Operations on a station from outside its launcher: detach, down, status."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field

import tango

from db.config.station import LoadedStation
from db.runtime import process
from devices.catalog import KEY_ATTRIBUTES
from servers.launcher import LaunchError, launcher_pid_file, running_launcher, startup_deadline_s, state_file


def up_detached(station: LoadedStation, timeout_s: float | None = None) -> dict:
    """Start the launcher in its own session; return its state once every device answers. The
    launcher's own deadline comes first (then it stops what it started and exits); this one,
    30 s later, only covers a launcher that hangs."""
    timeout_s = startup_deadline_s(station) + 30.0 if timeout_s is None else timeout_s
    pid = running_launcher(station)
    if pid is not None:
        raise LaunchError(f"station {station.name!r} is already up (launcher PID {pid})")
    log_file = station.data_dir / "log" / "launcher.log"
    child = process.spawn([sys.executable, "-m", "servers.launcher", str(station.path)],
                          dict(__import__("os").environ, PYTHONUNBUFFERED="1"), log_file, new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            tail = log_file.read_text(errors="replace").strip().splitlines()[-5:]
            raise LaunchError(f"the station did not come up (launcher exit code {child.returncode}):\n  "
                              + "\n  ".join(tail))
        state = read_state(station)
        if state and state.get("ready") and state.get("launcher_pid") == child.pid:
            return state
        time.sleep(0.1)
    process.stop_pid(child.pid, timeout_s=30)
    raise LaunchError(f"the station did not come up within {timeout_s:.0f} s; see {log_file}")


def read_state(station: LoadedStation) -> dict | None:
    try:
        return json.loads(state_file(station).read_text())
    except (OSError, ValueError):
        return None


def down(station: LoadedStation, timeout_s: float = 30.0) -> list[str]:
    """Stop a detached station; return what was stopped. Only PIDs this station started."""
    stopped = []
    state = read_state(station) or {}
    pid = running_launcher(station)
    if pid is not None:
        process.stop_pid(pid, timeout_s=timeout_s)
        stopped.append(f"launcher (PID {pid})")
    for name, child_pid in (state.get("children") or {}).items():
        if process.pid_alive(child_pid):  # left over from a launcher that was killed
            process.stop_pid(child_pid)
            stopped.append(f"{name} (PID {child_pid})")
    launcher_pid_file(station).unlink(missing_ok=True)
    state_file(station).unlink(missing_ok=True)
    return stopped


@dataclass
class DeviceStatus:
    name: str
    device_class: str
    state: str
    status: str
    attributes: dict = field(default_factory=dict)
    external: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def _one_status(station: LoadedStation, name: str, cls: str, external: bool, timeout_ms: int) -> DeviceStatus:
    try:
        proxy = tango.DeviceProxy(f"tango://{station.tango_host}/{name}")
        proxy.set_timeout_millis(timeout_ms)
        keys = list(KEY_ATTRIBUTES.get(cls, ()))
        replies = proxy.read_attributes(["State", "Status", *keys])  # one call: a station of 321 devices
        state, status = (str(r.value) if not r.has_failed else "UNKNOWN" for r in replies[:2])
        values = {reply.name: None if reply.has_failed else _plain(reply.value) for reply in replies[2:]}
        return DeviceStatus(name, cls or proxy.info().dev_class, state, status, values, external)
    except tango.DevFailed as exc:
        return DeviceStatus(name, cls, "UNREACHABLE", exc.args[0].desc.strip(), {}, external)


STATUS_WORKERS = 16  # devices asked at once: a station of 321 devices answers in well under a second


def device_status(station: LoadedStation, timeout_ms: int = 1500) -> list[DeviceStatus]:
    """Every device's state, status and key values, asked in parallel (a dead device costs its own
    timeout, not everybody's), in station order."""
    from concurrent.futures import ThreadPoolExecutor

    entries = [(d.name, d.class_, False) for _, d in station.station.devices()]
    entries += [(d.name, d.class_ or "", True) for d in station.station.external_devices]
    with ThreadPoolExecutor(max_workers=STATUS_WORKERS) as pool:
        return list(pool.map(lambda e: _one_status(station, *e, timeout_ms), entries))


def bridge_status(station: LoadedStation, stale_after_s: float = 5.0) -> dict | None:
    """The bridge's last health report with its condition (ok / degraded / stale), None without one."""
    path = station.data_dir / "run" / "bridge-health.json"
    try:
        health = json.loads(path.read_text())
        age = time.time() - path.stat().st_mtime
    except (OSError, ValueError):
        return None
    if not isinstance(health, dict):
        return None
    if age > stale_after_s or not process.pid_alive(int(health.get("pid") or 0)):
        health["status"], health["reason"] = "stale", f"no health report for {age:.0f} s: is the bridge running?"
    health.setdefault("status", "ok")
    return health


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    return value
