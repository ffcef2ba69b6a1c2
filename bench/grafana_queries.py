"""Every query of the exported Grafana dashboards over a week of archive, timed.

A real InfluxDB 1.x (Debian influxd) is filled with DAYS days of points, one every PERIOD seconds,
for every attribute the station file archives (numbers, booleans and text as the bridge writes
them), plus alarm and bridge-health points. Each dashboard target is then run as Grafana would
run it over the last week ($timeFilter, $__interval for maxDataPoints 1000 -> 10 min buckets).

    .venv/bin/python bench/grafana_queries.py [--station stations/demo.yaml] [--days 7] [--period 10]

Prints the points written, each dashboard's slowest query and rows, and the slowest overall
(the target: under 1 s each, with at most 1,000 rows per series).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from db.archive.reading import Reading, line_protocol  # noqa: E402
from db.config.validation import load_station  # noqa: E402
from db.deploy import grafana  # noqa: E402

import services  # noqa: E402  (the tests' real-service starters)
from testkit import grafana_substitute as substitute  # noqa: E402  (as Grafana substitutes them)

WEEK_S = 7 * 86400


def fill(port: int, loaded, days: float, period: float) -> int:
    series = grafana.archived_series(loaded)
    now = time.time()
    start = now - days * 86400
    steps = int(days * 86400 / period)
    written, batch = 0, []
    url = f"http://127.0.0.1:{port}/write?" + urllib.parse.urlencode({"db": "dcs", "precision": "ns"})
    urllib.request.urlopen(f"http://127.0.0.1:{port}/query?q=CREATE+DATABASE+dcs", data=b"").read()
    health = [f"{loaded.name}/bridge/health", *grafana.HEALTH_PANELS]
    for step in range(steps):
        stamp = int((start + step * period) * 1e9)
        for one in series:
            value = {"bool": step % 2 == 0, "str": f"state {step % 3}"}.get(one.kind, 20.0 + (step % 100) * 0.01)
            batch.append(line_protocol(Reading(one.device, one.attribute, value, "VALID", one.unit, stamp), loaded.name))
        for _, figure in health[1:]:
            batch.append(line_protocol(Reading(health[0], figure, float(step), "VALID", "", stamp), loaded.name))
        if step % 360 == 0:  # an alarm raised and cleared every hour or so
            batch.append(line_protocol(Reading(f"{loaded.name}/alarm/interlock", "coldbox-dew-point",
                                               "raised: bench" if step % 720 == 0 else "cleared: bench", "VALID", "",
                                               stamp), loaded.name))
        if len(batch) >= 20_000 or step == steps - 1:
            urllib.request.urlopen(urllib.request.Request(url, data="\n".join(batch).encode()), timeout=60).read()
            written += len(batch)
            batch = []
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--station", default=str(ROOT / "stations" / "demo.yaml"))
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--period", type=float, default=10.0, help="seconds between the points of one series")
    args = parser.parse_args()
    loaded = load_station(args.station)
    with tempfile.TemporaryDirectory() as tmp:
        influx = services.influxdb1(Path(tmp) / "influx")
        try:
            started = time.perf_counter()
            points = fill(influx.port, loaded, args.days, args.period)
            print(f"archive: {points:,} points written in {time.perf_counter() - started:.1f} s "
                  f"({args.days:g} days, one point every {args.period:g} s per series)")
            slowest_all = 0.0
            for name, board in grafana.dashboards(loaded).items():
                slowest, rows, count = 0.0, 0, 0
                queries = [(p, t["query"]) for p in grafana.panels(board) for t in p.get("targets", [])]
                queries += [({}, a["target"]["query"]) for a in board["annotations"]["list"]]
                for panel, query in queries:
                    text = substitute(query, WEEK_S, panel)
                    begun = time.perf_counter()
                    found = services.influx_query(influx.port, "dcs", text)
                    slowest = max(slowest, time.perf_counter() - begun)
                    rows = max(rows, len(found))
                    count += 1
                slowest_all = max(slowest_all, slowest)
                print(f"{name}: {count} queries over a week, slowest {slowest * 1000:.0f} ms, at most {rows} rows")
            print(f"slowest query over a week: {slowest_all * 1000:.0f} ms (target < 1000 ms)")
        finally:
            influx.stop()


if __name__ == "__main__":
    main()
