"""Bridge benchmark: N attributes pushing events from separate processes into the bridge,
which feeds a real InfluxDB (Debian influxd, /write) and a real mosquitto.

    .venv/bin/python bench/bridge.py [--attributes 1000] [--sources 4] [--seconds 5] [--runs 3]
                                     [--rates 1000,5000,10000,15000,20000,25000,30000,40000,50000,60000]
                                     [--peer ../shared/peers/naive_bridge.py]

For each offered rate (events/s over all attributes) it checks zero loss into
both sinks (MQTT subscriber count and InfluxDB point count equal to what the
sources pushed); after the first step with a loss it tries three finer steps
between the last lossless one and it. Each step starts once the consumer's sinks
have been quiet for QUIET_S (a lossy step's backlog is never counted as the
next step's deliveries). It prints the highest lossless rate, MQTT
latency p50/p99 (Tango event timestamp -> MQTT subscriber), archive commit p99,
bridge CPU and RSS, the time to subscribe every attribute, then -- same
sources, same steps, counted at the sinks the same way -- the peer (the naive
bridge a lab writes first: ../shared/peers/naive_bridge.py) and a plain
pytango subscriber that only counts events (the ceiling for any Python
consumer). Each highest rate is the median of --runs ladders. Ratios: bridge /
peer and bridge / ceiling. Needs mosquitto and influxd installed
(scripts/test.sh installs them).
NOPUB=1 archives only (no MQTT), to see what the archive path alone costs.

--pin-sources CPU runs the sources, the sinks (mosquitto, influxd), the MQTT counter and the
database on that CPU, and the consumer under test (bridge, peer, ceiling) alone on the other
CPUs: on a 2-core machine the load otherwise takes CPU from the consumer it measures. --profile DIR records a py-spy flame graph of the
bridge during its first step at each of 1,000 and 10,000 events/s (pip install '.[bench]').
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import tango
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from db.runtime import process  # noqa: E402
from db.runtime.tango_database import EmbeddedDatabase  # noqa: E402

import services  # noqa: E402  (the tests' real-service starters)

LOAD_CPU: set[int] | None = None  # --pin-sources: the CPU of everything but the consumer under test


@contextlib.contextmanager
def on_load_cpu():
    """Processes started inside run on the load CPU (a child inherits its parent thread's
    affinity); nothing changes without --pin-sources."""
    mine = os.sched_getaffinity(0)
    if LOAD_CPU is not None:
        os.sched_setaffinity(0, LOAD_CPU)
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def start_sources(tmp: Path, tango_host: str, sources: int, per_source: int) -> list[subprocess.Popen]:
    host, port = tango_host.split(":")
    db = tango.Database(host, int(port))
    for k in range(sources):
        info = tango.DbDevInfo()
        info.name, info._class, info.server = f"bench/src/{k}", "EventSource", f"EventSource/{k}"
        db.add_device(info)
        db.put_device_property(info.name, {"attributes": [str(per_source)]})
    procs = []
    with on_load_cpu():
        for k in range(sources):
            env = process.tango_env(tango_host)
            env["TANGO_DS_EVENT_BUFFER_HWM"] = "100000"
            args = [sys.executable, str(ROOT / "bench" / "event_source.py"), "EventSource", str(k),
                    "-ORBendPoint", f"giop:tcp:127.0.0.1:{process.free_port()}"]
            procs.append(process.spawn(args, env, tmp / f"source{k}.log"))
    for k in range(sources):
        deadline = time.monotonic() + 30
        while True:
            try:
                tango.DeviceProxy(f"tango://{tango_host}/bench/src/{k}").state()
                break
            except tango.DevFailed:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"source {k} did not start: {(tmp / f'source{k}.log').read_text()[-2000:]}") from None
                time.sleep(0.1)
    return procs


def station_file(tmp: Path, tango_host: str, sources: int, per_source: int, mqtt_port: int, influx_port: int) -> Path:
    attrs = {f"a{i}": {"archive": True, "publish": os.environ.get("NOPUB") is None} for i in range(per_source)}
    raw = {
        "station": "bench",
        "data_dir": str(tmp / "data"),
        "tango": {"database": {"external": tango_host}},
        "external_devices": [{"name": f"bench/src/{k}", "class": "EventSource", "attributes": attrs}
                             for k in range(sources)],
        "bridge": {
            "archive_events": "change",
            "archive": {"backend": "influxdb1", "url": f"http://127.0.0.1:{influx_port}", "database": "bench",
                        "batch_size": 10000, "flush_interval": 0.2},
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "qos": 0},
        },
    }
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


class Line:
    """A child speaking the 'ready' + one-line-per-request protocol of the bench helpers."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"{args[1]} did not start: {line!r}")

    def ask(self) -> list[str]:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().split()

    def stop(self) -> None:
        self.proc.stdin.close()  # the helper ends (and stops its own children) at end of input
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def burst(tango_host: str, sources: int, rate: float, seconds: float) -> tuple[int, float]:
    """Push rate events/s for seconds; return (events pushed, seconds it really took)."""
    proxies = [tango.DeviceProxy(f"tango://{tango_host}/bench/src/{k}") for k in range(sources)]
    before = sum(p.sent for p in proxies)
    started = time.monotonic()
    for p in proxies:
        p.Burst([rate / sources, seconds])
    time.sleep(seconds)
    while any(p.Busy() for p in proxies):
        time.sleep(0.02)
    return sum(p.sent for p in proxies) - before, time.monotonic() - started


SETTLE_S = 1.5  # what is not in a sink this long after the burst ended counts as not keeping up


def influx_count(port: int, database: str = "bench", measurement: str = "src") -> int:
    rows = services.influx_query(port, database, f"SELECT count(value) FROM {measurement} WHERE time > now() - 1h")
    return int(rows[0]["count"]) if rows else 0


FINE_STEPS = 3
QUIET_S = 2.0  # a step starts once its consumer's sinks have taken nothing new for this long


def drain(counts, what: str, timeout_s: float = 120.0) -> None:
    """Wait until ``counts()`` (what the sinks hold, or took since the last call) stops changing:
    a lossy step's backlog, still arriving, must not count as the next step's deliveries."""
    last, quiet_since, deadline = counts(), time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() - quiet_since < QUIET_S:
        if time.monotonic() > deadline:
            print(f"  ({what} still taking events after {timeout_s:.0f} s: the next step may count them)", flush=True)
            return
        time.sleep(0.25)
        now = counts()
        if now != last:
            last, quiet_since = now, time.monotonic()


def ladder(step, rates: list[float]) -> float:
    """The highest lossless achieved rate: the steps in order until the first loss, then FINE_STEPS
    finer ones between the last lossless step and it. ``step(rate)`` -> (lossless, achieved)."""
    best, last_ok = 0.0, 0.0
    for rate in rates:
        lossless, achieved = step(rate)
        if lossless:
            best, last_ok = max(best, achieved), rate
            continue
        for k in range(1, FINE_STEPS + 1):
            finer = last_ok + (rate - last_ok) * k / (FINE_STEPS + 1)
            lossless, achieved = step(finer)
            if not lossless:
                break
            best = max(best, achieved)
        break
    return best


def peer_rate(tmp: Path, peer: Path, tango_host: str, sources: int, rates: list[float], seconds: float,
              broker_port: int, influx_port: int, runs: int) -> list[float]:
    """The naive peer on the same sources and steps, its deliveries counted at the sinks."""
    with on_load_cpu():
        counter = Line([sys.executable, str(ROOT / "bench" / "mqtt_counter.py"), str(broker_port), "naive/#"])
    env = process.tango_env(tango_host)
    env["TANGO_EVENT_BUFFER_HWM"] = "100000"
    devices = ",".join(f"bench/src/{k}" for k in range(sources))
    log = tmp / "peer.log"
    proc = process.spawn([sys.executable, str(peer), "--tango-host", tango_host, "--devices", devices,
                          "--mqtt", f"127.0.0.1:{broker_port}", "--influx", f"127.0.0.1:{influx_port}", "--db", "naive"],
                         env, log)
    try:
        deadline = time.monotonic() + 120
        while "naive bridge up" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the peer did not start: {log.read_text()[-3000:]}")
            time.sleep(0.1)
        time.sleep(2)
        counter.ask()
        ps = psutil.Process(proc.pid)

        def step(rate: float) -> tuple[bool, float]:
            drain(lambda: (int(counter.ask()[0]), influx_count(influx_port, "naive", "naive")), "the peer")
            before = influx_count(influx_port, "naive", "naive")
            ps.cpu_percent()
            sent, took = burst(tango_host, sources, rate, seconds)
            cpu = ps.cpu_percent()
            time.sleep(SETTLE_S)
            mqtt_count, p50, p99 = counter.ask()
            archived = influx_count(influx_port, "naive", "naive") - before
            lossless = int(mqtt_count) == sent and archived == sent
            print(f"  peer    offered {rate:>7.0f}/s (achieved {sent / took:,.0f}/s): pushed {sent}, MQTT {mqtt_count}, "
                  f"InfluxDB {archived}, MQTT latency p50 {p50} ms p99 {p99} ms, CPU {cpu:.0f} %"
                  f"{'' if lossless else '  <- LOSS'}", flush=True)
            return lossless, sent / took

        return [ladder(step, rates) for _ in range(runs)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        counter.stop()


def bridge_health(tmp: Path) -> dict:
    try:
        return json.loads((tmp / "data" / "run" / "bridge-health.json").read_text())
    except (OSError, ValueError):
        return {}


def count_ceiling(tango_host: str, sources: int, specs: list[str], rates: list[float], seconds: float,
                  direct: bool, runs: int, latency: dict[float, tuple[float, float]]) -> list[float]:
    """Highest lossless rate of a subscriber that only counts (same sources, same steps); its
    event latency (p50, p99 ms) per offered rate goes into ``latency`` (the last ladder's)."""
    env = process.tango_env(tango_host)
    env["TANGO_EVENT_BUFFER_HWM"] = "100000"
    flags = ["--direct"] if direct else []
    counter = Line([sys.executable, str(ROOT / "bench" / "count_subscriber.py"), *flags, tango_host, *specs], env)
    name = "direct " if direct else "ceiling"
    try:
        time.sleep(2)
        ps = psutil.Process(counter.proc.pid)

        def step(rate: float) -> tuple[bool, float]:
            drain(lambda: int(counter.ask()[0]), name.strip())
            before = int(counter.ask()[0])
            ps.cpu_percent()
            sent, took = burst(tango_host, sources, rate, seconds)
            cpu = ps.cpu_percent()
            time.sleep(SETTLE_S)
            reply = counter.ask()
            got = int(reply[0]) - before
            latency[rate] = (float(reply[2]), float(reply[3]))
            print(f"  {name} offered {rate:>7.0f}/s (achieved {sent / took:,.0f}/s): pushed {sent}, counted {got}, "
                  f"event latency p50 {reply[2]} ms p99 {reply[3]} ms, CPU {cpu:.0f} %"
                  f"{'' if got == sent else '  <- LOSS'}", flush=True)
            return got == sent, sent / took

        return [ladder(step, rates) for _ in range(runs)]
    finally:
        counter.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attributes", type=int, default=1000)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3, help="ladders per consumer; the median is reported")
    parser.add_argument("--rates", default="1000,5000,10000,15000,20000,25000,30000,40000,50000,60000")
    parser.add_argument("--peer", type=Path, default=ROOT.parent / "shared" / "peers" / "naive_bridge.py",
                        help="the peer bridge (naive_bridge.py); 'none' to leave it out")
    parser.add_argument("--pin-sources", type=int, metavar="CPU",
                        help="run the sources on this CPU alone, everything else on the other CPUs")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy flame graphs of the bridge at 1,000 and 10,000 events/s into DIR")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    if args.pin_sources is not None:
        others = os.sched_getaffinity(0) - {args.pin_sources}
        if args.pin_sources not in os.sched_getaffinity(0) or not others:
            raise SystemExit(f"--pin-sources {args.pin_sources}: this process may run on CPUs "
                             f"{sorted(os.sched_getaffinity(0))}; give one of them, and leave at least one other")
        os.sched_setaffinity(0, others)  # the consumers under test inherit it; on_load_cpu() for the rest
        global LOAD_CPU
        LOAD_CPU = {args.pin_sources}
    py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if args.profile is not None:
        if py_spy is None:
            raise SystemExit("--profile needs py-spy (pip install '.[bench]')")
        args.profile.mkdir(parents=True, exist_ok=True)
    profiled: set[float] = set()
    per_source = args.attributes // args.sources
    if str(args.peer) != "none" and not args.peer.exists():
        raise SystemExit(f"the peer {args.peer} is missing: give --peer PATH, or --peer none")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        database = EmbeddedDatabase("127.0.0.1", process.free_port(), tmp / "db")
        with on_load_cpu():
            db_proc = database.start()
            broker = services.mosquitto(tmp / "mosquitto")
            influx = services.influxdb1(tmp / "influx")
        sources = start_sources(tmp, database.tango_host, args.sources, per_source)
        path = station_file(tmp, database.tango_host, args.sources, per_source, broker.port, influx.port)
        with on_load_cpu():
            counter = Line([sys.executable, str(ROOT / "bench" / "mqtt_counter.py"), str(broker.port), "dcs/bench/#"])
        bridge_env = process.tango_env(database.tango_host)
        bridge_env["TANGO_EVENT_BUFFER_HWM"] = "100000"
        bridge = process.spawn([sys.executable, "-m", "bridges", str(path)], bridge_env, tmp / "bridge.log")
        results = []
        try:
            deadline = time.monotonic() + 120
            while "bridge up" not in (tmp / "bridge.log").read_text():
                if bridge.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp / "bridge.log").read_text()[-3000:])
                time.sleep(0.1)
            subscribe_s = float(re.search(r"bridge up: (\d+) subscriptions in ([\d.]+) s",
                                          (tmp / "bridge.log").read_text()).group(2))
            time.sleep(2)
            counter.ask()
            ps = psutil.Process(bridge.pid)
            counter_ps = psutil.Process(counter.proc.pid)

            def step(rate: float) -> tuple[bool, float]:
                drain(lambda: (int(counter.ask()[0]), influx_count(influx.port)), "the bridge")
                influx_before = influx_count(influx.port)
                ps.cpu_percent()
                counter_ps.cpu_percent()
                psutil.cpu_percent()
                spy = None
                if args.profile is not None and rate in (1000, 10000) and rate not in profiled:
                    profiled.add(rate)
                    spy = subprocess.Popen([py_spy, "record", "--pid", str(bridge.pid), "--nonblocking",
                                            "--duration", str(max(1, int(args.seconds))), "--rate", "200", "--gil", "--threads",
                                            "--output", str(args.profile / f"bridge-{rate:.0f}.svg")],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                sent, took = burst(database.tango_host, args.sources, rate, args.seconds)
                if spy is not None:
                    spy.wait(timeout=60)
                cpu = ps.cpu_percent()
                machine = psutil.cpu_percent() * psutil.cpu_count()
                counter_cpu = counter_ps.cpu_percent()
                time.sleep(SETTLE_S)
                mqtt_count, p50, p99 = counter.ask()
                archived = influx_count(influx.port) - influx_before
                achieved = sent / took
                rss = ps.memory_info().rss / 2**20
                lossless = bool((int(mqtt_count) == sent or os.environ.get("NOPUB")) and archived == sent)
                results.append((achieved, sent, int(mqtt_count), archived, float(p50), float(p99), cpu, rss, lossless, rate))
                print(f"  bridge  offered {rate:>7.0f}/s (achieved {achieved:,.0f}/s): pushed {sent}, MQTT {mqtt_count}, "
                      f"InfluxDB {archived}, "
                      f"MQTT latency p50 {p50} ms p99 {p99} ms, CPU {cpu:.0f} %, RSS {rss:.0f} MiB "
                      f"(machine {machine:.0f} % of {100 * psutil.cpu_count()} %, MQTT counter {counter_cpu:.0f} %)"
                      f"{'' if lossless else '  <- LOSS'}", flush=True)
                return lossless, achieved

            bridge_rates = [ladder(step, rates) for _ in range(args.runs)]
            health = bridge_health(tmp)
        finally:
            bridge.terminate()
            bridge.wait(timeout=30)
            counter.stop()
        specs = [f"bench/src/{k}:{per_source}" for k in range(args.sources)]
        try:
            peer_rates = [] if str(args.peer) == "none" else peer_rate(
                tmp, args.peer, database.tango_host, args.sources, rates, args.seconds, broker.port, influx.port,
                args.runs)
            ceiling_latency: dict[float, tuple[float, float]] = {}
            ceilings = count_ceiling(database.tango_host, args.sources, specs, rates, args.seconds, False, args.runs,
                                     ceiling_latency)
            directs = count_ceiling(database.tango_host, args.sources, specs, rates, args.seconds, True, args.runs, {})
        finally:
            for proc in sources:
                proc.terminate()
                proc.wait(timeout=15)
            broker.stop()
            influx.stop()
            process.stop_pid(db_proc.pid)
    median = statistics.median
    best = median(bridge_rates)
    lossless = [r for r in results if r[8]]
    at = {r[9]: r for r in results}
    print()
    if args.pin_sources is not None:
        print(f"sources, sinks (mosquitto, influxd, MQTT counter) and database on CPU {args.pin_sources}; "
              f"the consumer under test (bridge, peer, ceiling) alone on CPUs {sorted(os.sched_getaffinity(0))}")
    print(f"attributes {args.attributes} in {args.sources} source processes, {args.seconds:.0f} s per step, "
          f"median of {args.runs} ladders; lossless = every pushed event in both sinks within {SETTLE_S} s after the step")
    print(f"time to subscribe {args.attributes} attributes: {subscribe_s:.2f} s (target < 5 s)")
    top = max(lossless, key=lambda r: r[0], default=None)
    print(f"bridge highest lossless rate into InfluxDB and MQTT: {best:.0f} events/s (runs: "
          f"{', '.join(f'{r:.0f}' for r in bridge_rates)}"
          + (f"; CPU {top[6]:.0f} % of one core, RSS {top[7]:.0f} MiB at the best step)" if top else ")"))
    for target, limit in ((1000, 5.0), (10000, 20.0)):
        if target in at:
            r = at[target]
            print(f"MQTT latency at {target}/s offered: p50 {r[4]:.2f} ms, p99 {r[5]:.2f} ms (target p99 < {limit:.0f} ms)"
                  + (f"; the event channel alone (Tango timestamp -> the plain subscriber's callback): p50 "
                     f"{ceiling_latency[target][0]:.2f} ms, p99 {ceiling_latency[target][1]:.2f} ms"
                     if target in ceiling_latency else ""))
    print(f"archive commit p99: {health.get('archive_commit_p99_ms', float('nan'))} ms")
    if peer_rates:
        print(f"peer (naive_bridge.py), highest lossless rate into InfluxDB and MQTT: {median(peer_rates):.0f} events/s "
              f"(runs: {', '.join(f'{r:.0f}' for r in peer_rates)})")
    print(f"plain pytango counting subscriber, highest lossless rate (ceiling): {median(ceilings):.0f} events/s "
          f"(runs: {', '.join(f'{r:.0f}' for r in ceilings)})")
    print(f"counting subscriber with the bridge's direct callbacks, highest lossless rate: {median(directs):.0f} events/s")
    if peer_rates and median(peer_rates):
        print(f"ratio bridge / peer: {best / median(peer_rates):.2f} (target >= 2)")
    if median(ceilings):
        print(f"ratio bridge / ceiling: {best / median(ceilings):.2f} (target >= 0.8); "
              f"bridge / direct-callback ceiling: {best / max(median(directs), 1):.2f}")


if __name__ == "__main__":
    main()
