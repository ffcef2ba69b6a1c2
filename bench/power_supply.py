"""Power-supply benchmarks: read latency and station start-up time.

    .venv/bin/python bench/power_supply.py [--reads 5000] [--starts 3]

Prints read_attribute p50/p99 on a PowerSupplyChannel backed by the emulator
(target p99 < 1 ms) and seconds from `trackerdcs up` to every device
answering (target < 10 s). Uses the demo station on free loopback ports.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tango
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bridges.service import percentile  # noqa: E402

from testkit import write_station  # noqa: E402


def demo_on_free_ports(folder: Path) -> tuple[Path, str, list[str]]:
    """The whole demo station (interlock included) on free loopback ports, with its data in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = write_station(folder, name="bench.yaml", safety=True)
    raw = yaml.safe_load(path.read_text())
    devices = [d["name"] for s in raw["servers"] for d in s["devices"]]
    return path, f"127.0.0.1:{raw['tango']['database']['embedded']['port']}", devices


def answering(host: str, name: str) -> bool:
    try:
        proxy = tango.DeviceProxy(f"tango://{host}/{name}")
        proxy.set_timeout_millis(300)
        proxy.state()
        return True
    except tango.DevFailed:
        return False


def trackerdcs(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "trackerdcs", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure_startup(folder: Path) -> float:
    path, host, devices = demo_on_free_ports(folder)
    started = time.perf_counter()
    up = trackerdcs("up", str(path), "--detach")
    try:
        pending = list(devices)
        while pending:
            pending = [d for d in pending if not answering(host, d)]
            if time.perf_counter() - started > 60:
                raise RuntimeError("station did not come up in 60 s")
        return time.perf_counter() - started
    finally:
        up.wait(timeout=120)
        subprocess.run([sys.executable, "-m", "trackerdcs", "down", str(path)], cwd=ROOT,
                       capture_output=True, timeout=120)


def measure_reads(folder: Path, reads: int) -> list[float]:
    path, host, _ = demo_on_free_ports(folder)
    subprocess.run([sys.executable, "-m", "trackerdcs", "up", str(path), "--detach"], cwd=ROOT,
                   check=True, capture_output=True, timeout=120)
    try:
        proxy = tango.DeviceProxy(f"tango://{host}/demo/hv/module1")
        for _ in range(200):  # warm up
            proxy.read_attribute("voltage")
        samples = []
        for _ in range(reads):
            t0 = time.perf_counter()
            proxy.read_attribute("voltage")
            samples.append(time.perf_counter() - t0)
        return samples
    finally:
        subprocess.run([sys.executable, "-m", "trackerdcs", "down", str(path)], cwd=ROOT,
                       capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = measure_reads(Path(tmp) / "reads", args.reads)
        p50, p99 = percentile(samples, 0.50) * 1e3, percentile(samples, 0.99) * 1e3
        print(f"read_attribute(voltage) on PowerSupplyChannel/emulator: n={len(samples)} "
              f"p50={p50:.3f} ms p99={p99:.3f} ms max={max(samples) * 1e3:.3f} ms  (target p99 < 1 ms: "
              f"{'met' if p99 < 1 else 'MISSED'}, ratio {p99 / 1.0:.2f})")
        startups = [measure_startup(Path(tmp) / f"start{i}") for i in range(args.starts)]
        median = statistics.median(startups)
        print(f"trackerdcs up -> every device answering: runs={', '.join(f'{s:.2f}' for s in startups)} s, "
              f"median={median:.2f} s  (target < 10 s: {'met' if median < 10 else 'MISSED'}, ratio {median / 10:.2f})")


if __name__ == "__main__":
    main()
