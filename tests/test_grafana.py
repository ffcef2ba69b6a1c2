"""The exported Grafana dashboards against a real InfluxDB 1.x fed by a running station: every
panel's every query, with ``$timeFilter`` and ``$__interval`` substituted as Grafana would, returns
the station's points for the attribute it claims to show; a week-long range stays bounded; an
interlock trip shows as annotation points. (Grafana itself cannot be installed here.)"""

from __future__ import annotations

import json
import re
import time

import pytest

from db.config.validation import load_station
from db.deploy import grafana
from db.deploy.grafana_export import export

import services
from conftest import emulator_control, start_station
from testkit import grafana_substitute as substitute
from testkit import wait_for, write_station

SENSOR = "demo/env/coldbox"
RULE = "coldbox-dew-point"
TRIPPED = {RULE, f"{SENSOR}/humidity", f"{SENSOR}/dew_point_margin"}  # what 95 % RH raises

@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grafana")
    broker = services.mosquitto(tmp / "mosquitto")
    influx = services.influxdb1(tmp / "influx")

    def mutate(raw):
        raw["bridge"] = {"archive": {"backend": "influxdb1", "url": f"http://127.0.0.1:{influx.port}",
                                     "database": "dcs", "flush_interval": 0.1},
                         "mqtt": {"host": "127.0.0.1", "port": broker.port}}
        sensor = next(d for s in raw["servers"] for d in s["devices"] if d["name"] == SENSOR)
        sensor["properties"].update(poll_period=0.2)
        raw["safety"]["grace_period"] = 1.0

    path = write_station(tmp, mutate, safety=True, daq=True)
    try:
        launcher = start_station(path)
    except BaseException:
        broker.stop()
        influx.stop()
        raise
    out = tmp / "grafana"
    export(load_station(path), out)
    yield {"launcher": launcher, "influx": influx, "out": out, "path": path}
    launcher.stop()
    broker.stop()
    influx.stop()


def query(env, text: str) -> list[dict]:
    return services.influx_query(env["influx"].port, "dcs", text)


def boards(env) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in (env["out"] / "dashboards").glob("*.json")}


def claimed(target: dict) -> tuple[str, str, str]:
    """(measurement, device or '', attribute) the query says it reads."""
    measurement = re.search(r'FROM "([^"]+)"', target["query"]).group(1)
    device = re.search(r""""device" = '([^']+)'""", target["query"])
    attribute = re.search(r""""attribute" = '([^']+)'""", target["query"])
    return measurement, device.group(1) if device else "", attribute.group(1) if attribute else ""


def trip(env) -> None:
    sensor = emulator_control(env["launcher"].station, "coldbox-sht85")
    sensor.send("set humidity 95")  # 21 C at 95 % RH: the dew-point margin falls below 3 K
    wait_for(lambda: query(env, f"""SELECT * FROM "alarm" WHERE "attribute" = '{RULE}' AND time > now() - 1h"""),
             timeout_s=30, interval_s=0.5, what="the trip archived as an alarm point")


def test_every_panel_query_returns_the_points_it_claims(env):
    trip(env)
    wait_for(lambda: query(env, """SELECT * FROM "bridge" WHERE time > now() - 1h"""), timeout_s=30,
             interval_s=0.5, what="the bridge's health figures archived")
    checked, empty = 0, []
    for name, board in boards(env).items():
        for panel in grafana.panels(board):
            for target in panel.get("targets", []):
                measurement, device, attribute = claimed(target)
                text = substitute(target["query"], 3600, panel)

                def rows(text=text):
                    return query(env, text)

                if measurement == "alarm" and attribute and attribute not in TRIPPED:
                    rows()  # an alarm this test never raises has no points: its query must still run
                    continue
                try:
                    found = wait_for(rows, timeout_s=20, interval_s=0.5, what="points")
                except AssertionError:
                    empty.append(f"{name} / {panel['title']} / {target.get('alias') or target['refId']}: {text}")
                    continue
                assert {r["name"] for r in found} == {measurement}
                if device:  # the query's own filter, checked on what came back where InfluxDB returns tags
                    raw = query(env, f"""SELECT * FROM "{measurement}" WHERE "device" = '{device}' AND """
                                     f""""attribute" = '{attribute}' AND time > now() - 1h LIMIT 1""")
                    assert raw and raw[0]["device"] == device and raw[0]["attribute"] == attribute
                checked += 1
    assert not empty, "queries that return nothing:\n" + "\n".join(empty)
    print(f"\ngrafana: {checked} panel queries returned the station's points")


def test_a_week_long_range_is_bounded(env):
    slowest, most = 0.0, 0
    for board in boards(env).values():
        for panel in grafana.panels(board):
            for target in panel.get("targets", []):
                text = substitute(target["query"], 7 * 86400, panel)
                assert "GROUP BY time(600000ms)" in text or " LIMIT 1000" in text, text
                started = time.perf_counter()
                found = query(env, text)
                slowest = max(slowest, time.perf_counter() - started)
                most = max(most, len(found))
                buckets = 7 * 86400 // 600 + 1  # Grafana rounds week / maxDataPoints up to 10 min buckets
                assert len(found) <= max(buckets, grafana.MAX_POINTS), f"{len(found)} rows for a week: {text}"
    print(f"\ngrafana: a week-long range: slowest query {slowest * 1000:.0f} ms, at most {most} rows")


def test_an_interlock_trip_is_an_annotation_on_every_dashboard(env):
    trip(env)
    for name, board in boards(env).items():
        annotation = board["annotations"]["list"][0]
        found = query(env, substitute(annotation["target"]["query"], 3600, {}))
        raised = [r for r in found if r["attribute"] == RULE and r["text"].startswith("raised")]
        assert raised, f"{name}: no raised annotation for {RULE} in {found}"
        assert annotation["textColumn"] == "text" and annotation["tagsColumn"] == "attribute"


def test_the_calibration_run_annotation_reads_the_runners_summaries(env):
    for name, board in boards(env).items():
        runs = [a for a in board["annotations"]["list"] if a["name"] == "Calibration runs"]
        assert len(runs) == 1, f"{name}: {board['annotations']['list']}"
        text = substitute(runs[0]["target"]["query"], 3600, {})
        found = wait_for(lambda text=text: query(env, text), timeout_s=20, interval_s=0.5,
                         what="the runner's run_summary archived")  # '' until a run starts
        assert {r["device"] for r in found} == {"demo/daq/fc7"}
