"""Real Node-RED against real mosquitto and a running station: the shipped HV flow is deployed
through the admin API, shows live values, and its requests reach the Tango device and come back."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tango

import services
from conftest import bridge_station, start_station
from testkit import wait_for

NODERED = services.NODERED
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
    tmp = tmp_path_factory.mktemp("nodered")
    broker = services.mosquitto(tmp / "mosquitto")
    launcher = start_station(bridge_station(tmp, broker.port, {"backend": "embedded"}))
    try:
        service = services.nodered(tmp, broker.port)
    except BaseException:
        launcher.stop()
        broker.stop()
        raise
    try:
        yield {"base": f"http://127.0.0.1:{service.port}", "host": launcher.station.tango_host, "log": service.log}
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
