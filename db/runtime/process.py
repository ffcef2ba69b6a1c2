"""Child processes of a station: spawned with their own log, tracked by PID.

Nothing here looks processes up by name: a process is stopped only through
the PID we started it with (kept in a pid file for detached stations).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path


class PortTaken(RuntimeError):
    pass


LOWEST_PORT = 20000  # below: well-known services and the demo's fixed ports (10000, 1883, 150xx)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_handed_out: set[int] = set()  # every port free_port gave in this process: never given twice
_handed_out_lock = threading.Lock()


def free_port(host: str = "127.0.0.1", avoid: frozenset[int] | set[int] = frozenset()) -> int:
    """A port nobody listens on now, outside the kernel's ephemeral range, never one this
    process handed out before (a server started but not bound yet does not listen) nor one
    in ``avoid`` (the station file's own ports).

    A port the kernel hands out as the local end of outgoing connections
    (the ephemeral range) can be taken by any connect() between choosing it
    and binding it -- cppTango binds a server's pinned ZMQ event port only at
    the first subscription, seconds later. Ports below that range are never
    handed out that way."""
    low, _ = _ephemeral_range()
    candidates = range(LOWEST_PORT, low)
    with _handed_out_lock:
        for _ in range(400 if len(candidates) > 1000 else 0):
            port = random.choice(candidates)
            if port in _handed_out or port in avoid or not _bindable(host, port):
                continue
            _handed_out.add(port)
            return port
        while True:  # no room below the range: a free port the kernel picks
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
            if port not in _handed_out and port not in avoid:
                _handed_out.add(port)
                return port


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def free_ports(count: int, host: str = "127.0.0.1", avoid: frozenset[int] | set[int] = frozenset()) -> int:
    """The first of ``count`` consecutive free ports, none given before (a server pinned on a
    port also takes the next two for its ZMQ events and heartbeats)."""
    while True:
        first = free_port(host, avoid)
        rest = range(first + 1, first + count)
        with _handed_out_lock:
            if all(p not in _handed_out and p not in avoid and _bindable(host, p) for p in rest):
                _handed_out.update(rest)
                return first


def check_port_free(host: str, port: int, what: str) -> None:
    """Raise PortTaken when something listens on the port. SO_REUSEADDR as the servers
    themselves set it: connections of a just-stopped station lingering in TIME_WAIT do
    not count (``down`` then ``up`` at once must work), a listener does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortTaken(f"{what}: port {port} on {host} is taken ({exc.strerror}); "
                            f"stop whatever listens there or choose another port in the station file") from None


def port_open(host: str, port: int, timeout_s: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def stop_pid(pid: int, timeout_s: float = 10.0) -> bool:
    """SIGTERM, wait, then SIGKILL. True when the process is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    time.sleep(0.1)
    return not pid_alive(pid)


def spawn(args: list[str], env: dict[str, str], log_path: Path, new_session: bool = False) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab", buffering=0)
    try:
        return subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    finally:
        log.close()


def tango_env(tango_host: str, event_port: int | None = None, heartbeat_port: int | None = None) -> dict[str, str]:
    """Environment of every Tango child: explicit TANGO_HOST, pinned ZMQ ports."""
    env = dict(os.environ)
    env["TANGO_HOST"] = tango_host
    env["PYTHONUNBUFFERED"] = "1"
    env["TANGO_ZMQ_EVENT_PORT"] = str(event_port or free_port())
    env["TANGO_ZMQ_HEARTBEAT_PORT"] = str(heartbeat_port or free_port())
    return env


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
