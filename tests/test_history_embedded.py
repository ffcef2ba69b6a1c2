"""The demo station's own bridge archives into the embedded store; history reads it back."""

import subprocess
import sys

import tango

from testkit import wait_for


def test_history_from_the_embedded_store(launcher, tmp_path):
    loaded = launcher.station
    lv = tango.DeviceProxy(f"tango://{loaded.tango_host}/demo/lv/module1-ch2")
    lv.current_limit = 1.0
    lv.voltage_setpoint = 2.5
    lv.On()
    command = [sys.executable, "-m", "trackerdcs", "history", "demo/lv/module1-ch2/voltage", "-s", str(loaded.path),
               "--since", "10m", "--csv"]

    def archived():
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        rows = [line.split(",") for line in result.stdout.splitlines()[1:]]
        return rows if any(abs(float(r[2]) - 2.5) < 0.01 for r in rows if r[2]) else None

    try:
        rows = wait_for(archived, timeout_s=20, interval_s=0.5, what="2.5 V in the embedded archive")
        assert all(r[3] in ("VALID", "CHANGING", "ALARM", "WARNING") for r in rows)
        assert [int(r[1]) for r in rows] == sorted(int(r[1]) for r in rows)
    finally:
        lv.Off()
    empty = subprocess.run(command[:-3] + ["--since", "10m", "--until", "20m"], capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and "the time range is empty" in empty.stderr
