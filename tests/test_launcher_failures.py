"""A failed `up` stops everything it started, and `down` finds what a killed launcher left.

With a start-up deadline too short for the station (TRACKERDCS_STARTUP_S), `up --detach` fails
saying which devices did not answer, and no process of the station is left. A launcher killed
(SIGKILL) while its station runs leaves its children behind: `down` stops them from the state
file the launcher keeps up to date at every start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from db.config.validation import load_station
from servers.launcher import launcher_pid_file, state_file

from testkit import ROOT, station_processes, wait_for, write_station


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trackerdcs", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env=env)


def test_a_failed_up_leaves_nothing_running(tmp_path):
    path = write_station(tmp_path)
    station = load_station(path)
    failed = _cli("up", str(path), "--detach", env=dict(os.environ, TRACKERDCS_STARTUP_S="0.5"))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "did not come up" in failed.stderr and "not answering" in failed.stderr, failed.stderr
    wait_for(lambda: not station_processes(station.tango_host), timeout_s=30, what="every process of the failed up gone")
    assert not launcher_pid_file(station).exists() and not state_file(station).exists()


def test_down_stops_what_a_killed_launcher_left(tmp_path):
    path = write_station(tmp_path)
    station = load_station(path)
    up = _cli("up", str(path), "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    children = station_processes(station.tango_host)
    launcher = int(launcher_pid_file(station).read_text().split()[0])
    os.kill(launcher, signal.SIGKILL)
    wait_for(lambda: launcher not in station_processes(station.tango_host), what="the launcher gone")
    assert len(station_processes(station.tango_host)) >= len(children) - 1, "the children died with the launcher"
    down = _cli("down", str(path))
    assert down.returncode == 0 and "server PowerSupply/demo-hv" in " ".join(down.stdout.split()), down.stdout
    wait_for(lambda: not station_processes(station.tango_host), timeout_s=30, what="every left-over process stopped")
