"""Real Node-RED against real mosquitto and a running station: the shipped HV flow is deployed
through the admin API, shows live values, and its requests reach the Tango device and come back."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tango

import services
from conftest import bridge_station, start_station
from testkit import ROOT, free_port, wait_for

NODERED = ROOT / "docker" / "nodered"
HV = "demo/hv/module1"


def http(method: str, url: str, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            text = reply.read().decode()
            return reply.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except urllib.error.URLError as exc:  # not listening yet
        return 0, str(exc)


@pytest.fixture(scope="module")
def nodered(tmp_path_factory):
    red = NODERED / "node_modules" / "node-red" / "red.js"
    if not red.exists():
        raise RuntimeError(f"Node-RED is not installed in {NODERED}: run scripts/test.sh (npm ci there)")
    tmp = tmp_path_factory.mktemp("nodered")
    broker = services.mosquitto(tmp / "mosquitto")
    launcher = start_station(bridge_station(tmp, broker.port, {"backend": "embedded"}))
    port = free_port()
    user_dir = tmp / "userdir"
    user_dir.mkdir()
    env = dict(os.environ, NODE_RED_PORT=str(port), NODE_RED_USER_DIR=str(user_dir), NODE_RED_FLOW_FILE=str(user_dir / "flows.json"),
               MQTT_HOST="127.0.0.1",
               MQTT_PORT=str(broker.port))
    node = shutil.which("node") or "/usr/bin/node"
    service = services.Service("node-red", [node, str(red), "--settings", str(NODERED / "settings.js")], tmp, port)
    service.proc = None
    import subprocess

    with open(service.log, "ab") as log:
        service.proc = subprocess.Popen(service.args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        stdin=subprocess.DEVNULL, cwd=NODERED)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http("GET", f"{base}/admin/settings")[0] == 200, timeout_s=60, interval_s=0.3,
                 what="Node-RED admin API")
        yield {"base": base, "host": launcher.station.tango_host, "log": service.log}
    finally:
        service.stop()
        launcher.stop()
        broker.stop()


def test_flow_deploys_shows_live_values_and_drives_the_hv(nodered):
    base = nodered["base"]
    flows = json.loads((NODERED / "flows.json").read_text())
    status, _ = http("POST", f"{base}/admin/flows", flows, {"Node-RED-Deployment-Type": "full"})
    assert status in (200, 204)
    _, nodes = http("GET", f"{base}/admin/nodes", headers={"Accept": "application/json"})
    types = {t for module in nodes for t in module.get("types", [])}
    missing = {n["type"] for n in flows if "type" in n and n["type"] not in ("tab",)} - types
    assert not missing, f"node types not installed, the flow would never run: {missing}"

    def live():
        code, body = http("GET", f"{base}/hv/status")
        return body if code == 200 and isinstance(body, dict) and "voltage" in body and "state" in body else None

    body = wait_for(live, timeout_s=30, interval_s=0.5, what="live HV values in Node-RED")
    assert body["state"] == "OFF" and body["voltage"]["unit"] == "V"

    hv = tango.DeviceProxy(f"tango://{nodered['host']}/{HV}")
    code, answer = http("POST", f"{base}/hv/setpoint", {"value": 25})
    assert code == 202 and answer["topic"] == f"dcs/{HV}/voltage_setpoint/set"
    reply = wait_for(lambda: (http("GET", f"{base}/hv/status")[1].get("lastReply") or {}).get("id") == answer["id"]
                     and http("GET", f"{base}/hv/status")[1]["lastReply"], what="reply in Node-RED")
    assert reply["ok"] is True
    assert hv.voltage_setpoint == 25.0

    code, answer = http("POST", f"{base}/hv/on")
    assert code == 202
    wait_for(lambda: hv.state() in (tango.DevState.MOVING, tango.DevState.ON), what="HV switched on from Node-RED")
    wait_for(lambda: http("GET", f"{base}/hv/status")[1].get("state") in ("MOVING", "ON"), what="state back in Node-RED")

    code, answer = http("POST", f"{base}/hv/setpoint", {"value": 5000})
    assert code == 202
    reply = wait_for(lambda: (http("GET", f"{base}/hv/status")[1].get("lastReply") or {}).get("id") == answer["id"]
                     and http("GET", f"{base}/hv/status")[1]["lastReply"], what="error reply in Node-RED")
    assert reply["ok"] is False and "outside the range allowed over MQTT" in reply["error"]
    assert hv.voltage_setpoint == 25.0

    assert http("POST", f"{base}/hv/off")[0] == 202
    wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=20, what="HV off from Node-RED")
    assert "Error" not in Path(nodered["log"]).read_text().split("Started flows")[-1]
