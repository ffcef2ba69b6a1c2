"""Operations on a station from outside its launcher: detach, down, status."""

from __future__ import annotations

import json
import sys
import time

from db.config.station import LoadedStation
from db.runtime import process
from db.runtime.proxies import Proxies
from servers import status_socket
from servers.device_status import DeviceStatus, entries, read
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


def device_status(station: LoadedStation, timeout_ms: int = 1500, via_launcher: bool = True) -> list[DeviceStatus]:
    """Every device's state, status and key values, in station order. The station's running
    launcher answers when it can (it holds a proxy to every device); otherwise, or when its list
    is not this station file's (edited since `up`), every device is asked here, in parallel."""
    rows = entries(station)
    if via_launcher and running_launcher(station) is not None:
        answer = status_socket.ask(status_socket.socket_path(station))
        if answer is not None and [a.get("name") for a in answer] == [name for name, _, _ in rows]:
            try:
                return [DeviceStatus.from_dict(a) for a in answer]
            except (KeyError, TypeError, ValueError):
                pass
    return read(Proxies(station.tango_host, timeout_ms), rows)


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

