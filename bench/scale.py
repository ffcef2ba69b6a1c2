"""A station of N modules (trackerdcs config generate) on this machine, measured as an operator
lives it:

    .venv/bin/python bench/scale.py [--modules 10 50 100] [--panel] [--panel-timeout 300]

For each N: seconds until `trackerdcs up --detach` returns and until every device answers; the
station's processes and their total RSS; the `trackerdcs status` time; the bridge's
subscriptions and the seconds it took to make them; the bridge's CPU and RSS idle and while
every module ramps; every module powered on at once through the interlock (seconds, failures);
a dew-point trip in one box (the spread of its HV Offs, and until every HV of the box ramps
down); with --panel the operator panel's open time, the time until every tile shows its states,
and its RSS (offscreen, bench/panel_open.py); the `down` time and
what was left behind. Goals (issue 12): every device answering < 30 s and RSS < 6 GB at
N = 100, status < 2 s, all modules on at once < 60 s with no failure, the box's HV Offs
within 1 s, the bridge <= 1 core. Ports are free loopback ports; data in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import tango
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db.config.generate import station  # noqa: E402
from db.runtime import process  # noqa: E402
from devices.sim.server import EmulatorControl  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cli(*args: str, timeout: float = 600) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "trackerdcs", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    return time.monotonic() - started, done


def station_pids(tango_host: str) -> list[int]:
    """Processes started for the station: each has its TANGO_HOST in its environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if f"TANGO_HOST={tango_host}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_share(pid: int, seconds: float) -> float:
    before, started = cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_s(pid) - before) / (time.monotonic() - started)


def answering(host: str, names: list[str], deadline_s: float) -> float | None:
    started = time.monotonic()
    waiting = set(names)
    proxies = {}
    while waiting and time.monotonic() - started < deadline_s:
        for name in sorted(waiting):
            try:
                proxy = proxies.setdefault(name, tango.DeviceProxy(f"tango://{host}/{name}"))
                proxy.set_timeout_millis(1000)
                proxy.ping()
                waiting.discard(name)
            except tango.DevFailed:
                pass
        if waiting:
            time.sleep(0.2)
    return None if waiting else time.monotonic() - started


def measure(modules: int, folder: Path, panel: bool, panel_timeout: float) -> dict:
    raw = station(modules)
    count = len(raw["instruments"])
    raw = station(modules, base_port=process.free_ports(2 * count), database_port=process.free_port(),
                  broker_port=process.free_port())
    raw["data_dir"] = str(folder / "data")
    raw["safety"]["grace_period"] = 5.0
    path = folder / f"scale-{modules}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    host = f"127.0.0.1:{raw['tango']['database']['embedded']['port']}"
    devices = [d["name"] for s in raw["servers"] for d in s["devices"]]
    figures: dict = {"modules": modules, "devices": len(devices), "servers": len(raw["servers"])}
    started = time.monotonic()
    up_s, up = cli("up", str(path), "--detach")
    figures["up_s"] = round(up_s, 1)
    if up.returncode != 0:
        figures["up_failed"] = (up.stderr or up.stdout).strip().splitlines()[-1:]
    try:
        answered = answering(host, devices, 300)
        figures["all_answer_s"] = None if answered is None else round(time.monotonic() - started, 1)
        launcher_log = folder / "data" / "log" / "launcher.log"
        said = re.search(r"every device answers \(\d+ devices\) ([\d.]+) s after the start",
                         launcher_log.read_text() if launcher_log.exists() else "")
        figures["all_answer_in_up_s"] = float(said.group(1)) if said else None  # before the bridge subscribes
        pids = station_pids(host)
        figures["processes"] = len(pids)
        figures["rss_gb"] = round(sum(rss(p) for p in pids) / 1e9, 2)
        figures["status_s"] = round(min(cli("status", str(path))[0] for _ in range(3)), 2)
        health_file = folder / "data" / "run" / "bridge-health.json"
        health = json.loads(health_file.read_text()) if health_file.exists() else {}
        bridge = health.get("pid")
        log = (folder / "data" / "log" / "bridge.log")
        up_line = next((line for line in log.read_text().splitlines() if "bridge up:" in line), "") if log.exists() else ""
        figures["bridge_up"] = up_line.split("bridge up: ", 1)[-1].split(", archive")[0] if up_line else None
        if bridge:
            figures["bridge_idle_cpu"] = round(cpu_share(bridge, 10), 2)
            figures["bridge_idle_rss_mb"] = round(rss(bridge) / 1e6)
        safety = tango.DeviceProxy(f"tango://{host}/scale/safety/interlock")
        safety.set_timeout_millis(10000)
        deadline = time.monotonic() + 60
        while safety.state() != tango.DevState.ON and time.monotonic() < deadline:
            time.sleep(0.2)
        names = [m["name"] for m in raw["modules"]]
        for m in raw["modules"]:
            hv = tango.DeviceProxy(f"tango://{host}/{m['hv']}")
            hv.write_attribute("voltage_setpoint", 100.0)
            hv.write_attribute("ramp_rate", 10.0)
        started = time.monotonic()
        ramp_cpu: dict = {}
        if bridge:
            sampler = threading.Thread(target=lambda: ramp_cpu.update(share=cpu_share(bridge, 8)), daemon=True)
            sampler.start()
        for name in names:
            safety.PowerOn(name)
        while safety.sequencing and time.monotonic() - started < 600:
            time.sleep(0.2)
        figures["power_on_all_s"] = round(time.monotonic() - started, 1)
        log_lines = list(safety.sequence_log)
        failed = [line for line in log_lines if line.startswith("FAILED")]
        figures["power_on_failures"] = len(failed)
        if failed:
            figures["power_on_failed"] = failed[:3]
        if bridge:
            sampler.join()
            figures["bridge_ramp_cpu"] = round(ramp_cpu.get("share", 0.0), 2)
            figures["bridge_ramp_rss_mb"] = round(rss(bridge) / 1e6)
        box = raw["instruments"]["box01-sht85"]
        control = EmulatorControl("127.0.0.1", box["emulator"]["control_port"])
        box_hvs = [r for r in raw["safety"]["rules"] if r["name"] == "box01-dew-point"][0]["actions"]
        before = json.loads(safety.last_trip or "{}").get("time", 0)
        stepped = time.time()
        control.send("set humidity 95")
        trip: dict = {}
        while time.time() - stepped < 30:
            trip = json.loads(safety.last_trip or "{}")
            if trip.get("rule") == "box01-dew-point" and trip.get("time", 0) != before:
                break
            time.sleep(0.05)
        if trip.get("rule") == "box01-dew-point":
            issued = [a["issued"] for a in trip["actions"]]
            figures["trip_hv_offs"] = len(issued)
            figures["trip_spread_ms"] = round((max(issued) - min(issued)) * 1e3, 1)
            figures["trip_first_last_s"] = (round(min(issued) - stepped, 2), round(max(issued) - stepped, 2))
            figures["trip_failures"] = sum(1 for a in trip["actions"] if a["result"] != "ok")
        proxies = [tango.DeviceProxy(f"tango://{host}/{a['device']}") for a in box_hvs]
        while time.time() - stepped < 60 and any(p.state() == tango.DevState.ON for p in proxies):
            time.sleep(0.05)
        figures["trip_all_ramping_s"] = round(time.time() - stepped, 2)
        if panel:
            env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
            started = time.monotonic()
            shown = subprocess.Popen([sys.executable, "-m", "bench.panel_open", str(path)], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            peak = 0
            while shown.poll() is None and time.monotonic() - started < panel_timeout:
                peak = max(peak, rss(shown.pid))
                time.sleep(0.2)
            if shown.poll() is None:
                shown.kill()
                shown.wait()
                figures["panel"] = f"not open after {panel_timeout:.0f} s ({peak / 1e6:.0f} MB)"
            else:
                opened = json.loads([line for line in shown.stdout.read().splitlines() if line.startswith("{")][-1])
                every = opened["every_value_s"]
                figures["panel"] = (f"open in {opened['open_s']} s, every tile's states in "
                                    f"{every if every is not None else 'never (120 s)'} s, "
                                    f"{peak / 1e6:.0f} MB peak")
    finally:
        down_s, _ = cli("down", str(path))
        figures["down_s"] = round(down_s, 1)
        time.sleep(1)
        figures["left_behind"] = len(station_pids(host))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--panel", action="store_true", help="also open the operator panel offscreen")
    parser.add_argument("--panel-timeout", type=float, default=300)
    args = parser.parse_args()
    for modules in args.modules:
        with tempfile.TemporaryDirectory(prefix=f"scale-{modules}-") as tmp:
            figures = measure(modules, Path(tmp), args.panel, args.panel_timeout)
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
