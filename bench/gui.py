"""CPU of the operator panel while the demo's attributes change at 10 Hz (target < 30 % of one core).

    .venv/bin/python bench/gui.py [--seconds 20]

Runs the demo station on free ports with every device polled at 10 Hz (the
cold-box readings carry noise, so they change on every poll), ramps the HV
and the LV, starts `trackerdcs gui` offscreen and samples its CPU.
Also writes docs/panel.png, the README's screenshot, from the same station.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import tango
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from power_supply import demo_on_free_ports  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--screenshot", default=str(ROOT / "docs" / "panel.png"))
    args = parser.parse_args()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        path, host, _ = demo_on_free_ports(Path(tmp))
        raw = yaml.safe_load(path.read_text())
        for server in raw["servers"]:
            for device in server["devices"]:
                if device["class"] != "SafetyInterlock":
                    device.setdefault("properties", {})["poll_period"] = 0.1
        raw["safety"]["grace_period"] = 1.0
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        subprocess.run([sys.executable, "-m", "trackerdcs", "up", str(path), "--detach"], cwd=ROOT, check=True,
                       capture_output=True, timeout=120)
        try:
            time.sleep(2)
            subprocess.run([sys.executable, "-m", "trackerdcs", "power", "on", "demo-module", "-s", str(path), "--hv", "150"],
                           cwd=ROOT, capture_output=True, timeout=120)
            hv = tango.DeviceProxy(f"tango://{host}/demo/hv/module1")
            hv.ramp_rate = 10
            hv.voltage_setpoint = 600  # a long ramp: voltage and current change on every 0.1 s tick
            subprocess.run([sys.executable, "-m", "trackerdcs", "gui", str(path), "--screenshot", args.screenshot,
                            "--settle", "3"], cwd=ROOT, env=env, capture_output=True, timeout=120)
            gui = subprocess.Popen([sys.executable, "-m", "trackerdcs", "gui", str(path)], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(5)  # start-up is not what we measure
                process = psutil.Process(gui.pid)
                process.cpu_percent()
                time.sleep(args.seconds)
                cpu = process.cpu_percent()
                rss = process.memory_info().rss / 2**20
            finally:
                gui.terminate()
                gui.wait(timeout=30)
        finally:
            subprocess.run([sys.executable, "-m", "trackerdcs", "down", str(path)], cwd=ROOT, capture_output=True,
                           timeout=120)
    print(f"GUI process over {args.seconds:.0f} s with the demo changing at 10 Hz: CPU {cpu:.1f} % of one core, "
          f"RSS {rss:.0f} MiB (target < 30 %: {'met' if cpu < 30 else 'MISSED'}); screenshot {args.screenshot}")


if __name__ == "__main__":
    main()
