"""`trackerdcs grafana export` in-process: the provisioning files, the dashboards' validity
(typed model, unique ids, bounded queries), units and thresholds from the station file, and the
archive points the bridge makes of alarm events."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from bridges.archived_events import alarm_reading, health_readings
from db.deploy import grafana
from trackerdcs.cli import cli

from testkit import ROOT

pytestmark = pytest.mark.unit
DEMO = ROOT / "stations" / "demo.yaml"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("grafana")
    result = CliRunner().invoke(cli, ["grafana", "export", str(DEMO), "-o", str(out), "--target", "influxdb2",
                                      "--url", "http://influxdb:8086", "--user", "grafana",
                                      "--password-file", "/run/secrets/influx_grafana_pw"])
    assert result.exit_code == 0, result.output
    return out


def boards(out) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in (out / "dashboards").glob("*.json")}


def test_provisioning_names_the_archive_and_never_the_password(exported):
    text = (exported / "provisioning" / "datasources" / "trackerdcs.yaml").read_text()
    assert "DBRP" in text.splitlines()[0]
    source = yaml.safe_load(text)["datasources"][0]
    assert source["url"] == "http://influxdb:8086" and source["user"] == "grafana"
    assert source["jsonData"]["version"] == "InfluxQL" and source["jsonData"]["dbName"] == "dcs"
    assert source["secureJsonData"] == {"password": "$__file{/run/secrets/influx_grafana_pw}"}
    provider = yaml.safe_load((exported / "provisioning" / "dashboards" / "trackerdcs.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == str((exported / "dashboards").resolve())


def test_dashboards_are_valid_with_units_thresholds_and_annotations(exported):
    found = boards(exported)
    assert set(found) == {"overview.json", "interlock.json", "bridge.json", "module-demo-module.json"}
    assert len({b["uid"] for b in found.values()}) == len(found)
    for name, board in found.items():
        grafana.check_dashboard(name, board)
        names = [a["name"] for a in board["annotations"]["list"]]
        assert names == ["Alarms", "Calibration runs"], names
        assert "null" not in json.dumps(board)
        runs = board["annotations"]["list"][1]
        assert runs["tagsColumn"] == "device" and "'demo/daq/fc7'" in runs["query"]
    panels = {p["title"]: p for p in grafana.panels(found["overview.json"])}
    hv_current = panels["HV current"]["fieldConfig"]["defaults"]
    assert hv_current["unit"] == "amp"
    assert [(s.get("value"), s["color"]) for s in hv_current["thresholds"]["steps"]] == [
        (None, "green"), (5.0e-5, "orange"), (9.0e-5, "red")]
    assert hv_current["custom"]["thresholdsStyle"] == {"mode": "line"}
    margin = panels["coldbox dew_point_margin"]["fieldConfig"]["defaults"]
    assert [(s.get("value"), s["color"]) for s in margin["thresholds"]["steps"]] == [
        (None, "red"), (3.0, "orange"), (5.0, "green")]
    assert panels["coldbox temperature"]["fieldConfig"]["defaults"]["unit"] == "celsius"
    for panel in grafana.panels(found["overview.json"]):
        if panel["type"] != "row":
            assert panel["maxDataPoints"] == grafana.MAX_POINTS and panel["interval"] == grafana.MIN_INTERVAL


def test_an_unbounded_or_duplicate_panel_is_refused():
    board = {"title": "t", "panels": [{"id": 1, "type": "timeseries", "targets": [
        {"refId": "A", "query": 'SELECT "value" FROM "hv"'}]}]}
    with pytest.raises(ValueError, match="unbounded"):
        grafana.check_dashboard("t", board)
    board["panels"] = [{"id": 1, "type": "row"}, {"id": 1, "type": "row"}]
    with pytest.raises(ValueError, match="duplicate panel ids"):
        grafana.check_dashboard("t", board)


def test_alarm_events_and_health_become_valid_points():
    point = alarm_reading("demo", {"time": 12.5, "source": "interlock", "id": "coldbox-dew-point",
                                   "event": "raised", "message": "margin 2.1 K"})
    assert (point.device, point.attribute, point.value, point.ts_ns) == (
        "demo/alarm/interlock", "coldbox-dew-point", "raised: margin 2.1 K", 12_500_000_000)
    assert point.quality == "VALID"  # never ALARM: the bridge's attribute alarms would raise an alarm of it
    assert alarm_reading("demo", {"event": "bogus"}) is None
    figures = {r.attribute: r.value for r in health_readings("demo", {"events_in": 5, "status": "ok", "queue": 0})}
    assert figures == {"events_in": 5.0, "queue": 0.0}
