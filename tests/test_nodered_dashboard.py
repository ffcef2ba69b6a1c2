"""The Node-RED flows generated from the station file (FlowFuse Dashboard 2.0) on real Node-RED,
real mosquitto and a running station, driven in Debian's headless chromium by Playwright: the module
page shows live values, LV On then HV On powers the module (the Tango devices say ON), and a setpoint
above the station file's MQTT limit shows the gateway's refusal to the operator."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
import tango
from test_nodered import NODERED, http

from db.config.validation import load_station
from db.deploy.nodered import export

import services
from conftest import bridge_station, start_station
from testkit import ROOT, wait_for

CHROMIUM = "/usr/bin/chromium"
HV, LV1, LV2 = "demo/hv/module1", "demo/lv/module1-ch1", "demo/lv/module1-ch2"
SCREENSHOT = ROOT / "docs" / "nodered-module.png"  # TRACKERDCS_UPDATE_DOCS=1 makes it again


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    if not (NODERED / "node_modules" / "@flowfuse" / "node-red-dashboard").exists():
        raise RuntimeError(f"FlowFuse Dashboard 2.0 is not installed in {NODERED}: run scripts/test.sh (npm ci)")
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/test.sh (apt install chromium)")
    tmp = tmp_path_factory.mktemp("dashboard")
    broker = services.mosquitto(tmp / "mosquitto")
    path = bridge_station(tmp, broker.port, {"backend": "embedded"})
    launcher = start_station(path)
    try:
        service = services.nodered(tmp, broker.port)
    except BaseException:
        launcher.stop()
        broker.stop()
        raise
    base = f"http://127.0.0.1:{service.port}"
    try:
        flows_path, _, _ = export(load_station(path), tmp / "export")
        flows = json.loads(flows_path.read_text())
        status, _ = http("POST", f"{base}/admin/flows", flows, {"Node-RED-Deployment-Type": "full"})
        assert status in (200, 204)
        yield {"base": base, "host": launcher.station.tango_host, "log": service.log, "flows": flows, "tmp": tmp}
    finally:
        service.stop()
        launcher.stop()
        broker.stop()


def widget(page, device_name: str, node: str):
    """A generated widget by its node id (db/deploy/nodered.py: tdcs.<device slug>.<node>)."""
    return page.locator(f'[id="nrdb-ui-widget-tdcs.{device_name.replace("/", "-")}.{node}"]')


def device(env, name):
    proxy = tango.DeviceProxy(f"tango://{env['host']}/{name}")
    proxy.set_timeout_millis(3000)
    return proxy


def test_every_generated_node_type_is_installed(dashboard):
    _, nodes = http("GET", f"{dashboard['base']}/admin/nodes", headers={"Accept": "application/json"})
    types = {t for module in nodes for t in module.get("types", [])}
    used = {n["type"] for n in dashboard["flows"]} - {"tab"}
    assert not used - types, f"node types not installed, the flows would never run: {used - types}"
    wait_for(lambda: "Started flows" in dashboard["log"].read_text(), timeout_s=20, what="flows started")
    assert "unknown type" not in dashboard["log"].read_text().lower()


def test_the_module_page_shows_live_values_powers_the_module_and_shows_a_refusal(dashboard):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-quic", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{dashboard['base']}/dashboard/demo-module", wait_until="networkidle")
            expect(widget(page, HV, "show.state")).to_contain_text("OFF", timeout=20_000)
            expect(widget(page, HV, "show.voltage")).to_contain_text(re.compile(r"HV bias \(V\)\s*-?\d"),
                                                                     timeout=20_000)  # a live reading
            expect(widget(page, LV1, "show.current")).to_contain_text(re.compile(r"\d"), timeout=20_000)

            widget(page, LV1, "cmd.On").locator("button").click()
            widget(page, LV2, "cmd.On").locator("button").click()
            wait_for(lambda: device(dashboard, LV1).state() == tango.DevState.ON, timeout_s=15, what="LV ch1 ON")
            widget(page, HV, "cmd.On").locator("button").click()
            wait_for(lambda: device(dashboard, HV).state() == tango.DevState.ON, timeout_s=15, what="HV ON")
            expect(widget(page, HV, "show.state")).to_contain_text("ON", timeout=15_000)
            expect(widget(page, HV, "reply")).to_contain_text("ok", timeout=15_000)

            field = widget(page, HV, "set.voltage_setpoint").locator("input")
            field.fill("700")
            field.press("Enter")
            expect(page.get_by_text(re.compile("Refused: .*voltage_setpoint.*")).first).to_be_visible(timeout=15_000)
            expect(widget(page, HV, "reply")).to_contain_text("Refused", timeout=15_000)
            assert device(dashboard, HV).voltage_setpoint != 700
            shot = dashboard["tmp"] / SCREENSHOT.name
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("TRACKERDCS_UPDATE_DOCS") == "1":  # the README's picture, made again on purpose
                shutil.copyfile(shot, SCREENSHOT)
        finally:
            browser.close()
