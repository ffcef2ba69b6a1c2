"""`trackerdcs nodered export` in-process: pages, controls within the station file's MQTT
permissions, unique ids, and a lab's own flow kept across a re-export."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from db.config.validation import load_station
from db.deploy import nodered
from trackerdcs.cli import cli

from testkit import ROOT

pytestmark = pytest.mark.unit
DEMO = ROOT / "stations" / "demo.yaml"


def test_pages_controls_and_topics_follow_the_station_file():
    nodes = nodered.flows(load_station(DEMO))
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids)) and all(i.startswith(nodered.PREFIX) for i in ids)
    pages = {n["name"]: n["path"] for n in nodes if n["type"] == "ui-page"}
    assert pages == {"Module demo-module": "/demo-module", "Cold box": "/coldbox", "Alarms": "/alarms"}
    buttons = {n["id"] for n in nodes if n["type"] == "ui-button"}
    assert {"tdcs.demo-hv-module1.cmd.On", "tdcs.demo-lv-module1-ch1.cmd.On", "tdcs.demo-env-chiller.cmd.Start",
            "tdcs.demo-safety-interlock.cmd.Acknowledge"} <= buttons
    setpoints = {n["id"]: n["label"] for n in nodes if n["type"] == "ui-text-input"}
    assert setpoints["tdcs.demo-hv-module1.set.voltage_setpoint"] == "voltage_setpoint [0 to 600]"
    assert "tdcs.demo-hv-module1.set.current_limit" not in setpoints  # not writable over MQTT in demo.yaml
    topics = {n["topic"] for n in nodes if n["type"] == "mqtt in"}
    assert {"dcs/demo/hv/module1/+", "dcs/demo/hv/module1/+/set/reply", "dcs/demo/hv/module1/cmd/+/reply",
            "dcs/$alarms/#"} <= topics
    changes = [r["to"] for n in nodes if n["type"] == "change" for r in n["rules"] if r["p"] == "request"]
    assert "dcs/demo/hv/module1/voltage_setpoint/set" in changes and "dcs/demo/hv/module1/cmd/On" in changes
    wired = {w for n in nodes for out in n.get("wires", []) for w in out}
    assert wired <= set(ids), f"wires to missing nodes: {wired - set(ids)}"


def test_a_re_export_keeps_the_labs_own_flow(tmp_path):
    own = [{"id": "lab-tab", "type": "tab", "label": "our bench"},
           {"id": "lab-inject", "type": "inject", "z": "lab-tab", "wires": [[]]}]
    (tmp_path / "flows.json").write_text(json.dumps(own + [{"id": "tdcs.stale", "type": "tab"}]))
    for _ in range(2):
        result = CliRunner().invoke(cli, ["nodered", "export", str(DEMO), "-o", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert "2 of your own kept" in result.output
    written = json.loads((tmp_path / "flows.json").read_text())
    assert written[:2] == own
    assert "tdcs.stale" not in {n["id"] for n in written}  # a generated node no longer generated is gone


def test_a_damaged_flows_file_is_refused_not_overwritten(tmp_path):
    (tmp_path / "flows.json").write_text("{not json")
    result = CliRunner().invoke(cli, ["nodered", "export", str(DEMO), "-o", str(tmp_path)])
    assert result.exit_code == 1 and "is not a Node-RED flows file" in result.output
    assert (tmp_path / "flows.json").read_text() == "{not json"


def test_tls_and_the_broker_account_for_a_secured_broker_keep_the_labs_own_credentials(tmp_path):
    secret_file = tmp_path / "credential_secret"
    secret_file.write_text("s3cret\n")
    lab = {"lab-http": {"user": "bench", "password": "theirs"}}
    (tmp_path / "flows_cred.json").write_text(json.dumps(nodered.encrypt_credentials("s3cret", lab)))
    args = ["nodered", "export", str(DEMO), "-o", str(tmp_path), "--tls-ca", "/data/tls/ca.crt",
            "--credential-secret-file", str(secret_file)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    nodes = {n["id"]: n for n in json.loads((tmp_path / "flows.json").read_text())}
    assert nodes[nodered.BROKER]["usetls"] is True and nodes[nodered.TLS]["ca"] == "/data/tls/ca.crt"
    stored = json.loads((tmp_path / "flows_cred.json").read_text())
    assert nodered.decrypt_credentials("s3cret", stored) == {**lab, nodered.BROKER: nodered.BROKER_CREDENTIALS}
    secret_file.write_text("another\n")  # a file encrypted with another secret is refused, not overwritten
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "encrypted with another credential secret" in result.output
    assert json.loads((tmp_path / "flows_cred.json").read_text()) == stored
    plain = nodered.flows(load_station(DEMO))
    assert next(n for n in plain if n["id"] == nodered.BROKER)["usetls"] is False
    assert nodered.TLS not in {n["id"] for n in plain}
