"""The compose stack's Node-RED as `trackerdcs stack init` prepares it, run for real outside a
container: docker/nodered/settings.stack.js (secrets from files, admin login), the flows init
generated from the station file (FlowFuse Dashboard 2.0) with the broker reached over TLS and
the "nodered" account from flows_cred.json, against the stack's broker (TLS, passwords, ACL).
In headless Chromium the module page shows a value the bridge's account published, HV On sends
its request through the ACL, and a refusal reaches the operator."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading

import mqtt_tls
import pytest
from test_nodered_dashboard import CHROMIUM, HV, widget

from db.deploy import nodered
from db.deploy.stack_files import read_secret

import services
from testkit import wait_for, write_station

SETTINGS = services.NODERED / "settings.stack.js"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not (services.NODERED / "node_modules" / "@flowfuse" / "node-red-dashboard").exists():
        raise RuntimeError(f"FlowFuse Dashboard 2.0 is not installed in {services.NODERED}: run scripts/test.sh")
    tmp = tmp_path_factory.mktemp("stack-nodered")
    out = tmp / "docker"
    done = subprocess.run([sys.executable, "-m", "trackerdcs", "stack", "init", str(write_station(tmp)), "-d", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    gen, secrets = out / "generated", out / "secrets"
    run_secrets = tmp / "run-secrets"  # what compose.yaml mounts at /run/secrets
    run_secrets.mkdir()
    for name in ("nodered_credential_secret", "mqtt_nodered_pw"):
        shutil.copy(secrets / name, run_secrets / name)
    shutil.copy(gen / "nodered" / "admin.bcrypt", run_secrets / "nodered_admin_bcrypt")
    data = tmp / "data"  # generated/nodered/data, which compose.yaml mounts at /data
    shutil.copytree(gen / "nodered" / "data", data)
    broker = services.stack_broker(out, tmp)
    port = services.free_port()
    env = dict(os.environ, NODE_RED_SECRETS_DIR=str(run_secrets), NODE_RED_USER_DIR=str(data), NODE_RED_PORT=str(port),
               NODE_RED_HOST="127.0.0.1", MQTT_HOST="localhost", MQTT_PORT=str(broker.port),
               MQTT_CA_FILE=str(gen / "tls" / "ca.crt"))
    red = services.NODERED / "node_modules" / "node-red" / "red.js"
    try:
        service = services.Service("node-red", [services.binary("node", "/usr/bin/node"), str(red), "--settings",
                                                str(SETTINGS)], tmp, port)
        service.start(services.http_ok(f"http://127.0.0.1:{port}/nodered/auth/login"), 60, env, services.NODERED)
    except BaseException:
        broker.stop()
        raise
    yield {"base": f"http://127.0.0.1:{port}", "broker": broker, "ca": str(gen / "tls" / "ca.crt"), "secrets": secrets,
           "gen": gen, "log": service.log, "data": data}
    service.stop()
    broker.stop()


def test_init_writes_tls_flows_whose_credentials_are_placeholders(stack):
    flows = json.loads((stack["gen"] / "nodered/data/flows.json").read_text())
    broker = next(n for n in flows if n["id"] == nodered.BROKER)
    assert broker["usetls"] is True and broker["tls"] == nodered.TLS
    assert next(n for n in flows if n["id"] == nodered.TLS)["ca"] == "${MQTT_CA_FILE}"
    stored = json.loads((stack["gen"] / "nodered/data/flows_cred.json").read_text())
    password = read_secret(stack["secrets"], "mqtt_nodered_pw")
    assert password not in json.dumps(stored) and password not in json.dumps(flows)
    secret = read_secret(stack["secrets"], "nodered_credential_secret")
    assert nodered.decrypt_credentials(secret, stored) == {nodered.BROKER: nodered.BROKER_CREDENTIALS}
    with pytest.raises(ValueError, match="another credential secret"):
        nodered.decrypt_credentials("not-the-secret", stored)


def test_node_red_reaches_the_broker_over_tls_with_its_account(stack):
    wait_for(lambda: "Connected to broker" in stack["log"].read_text(), timeout_s=30,
             what="Node-RED connected to the TLS broker (node-red.log)")
    log = stack["log"].read_text()
    assert "Started flows" in log and "missing types" not in log.lower(), log[-3000:]
    assert "Connection failed" not in log and "Not authorized" not in log, log[-3000:]


def test_the_dashboard_shows_live_values_sends_requests_through_the_acl_and_shows_a_refusal(stack):
    from playwright.sync_api import expect, sync_playwright

    bridge = mqtt_tls.client(stack["ca"], "bridge", read_secret(stack["secrets"], "mqtt_bridge_pw"))
    requests: list[tuple[str, dict]] = []
    subscribed = threading.Event()
    bridge.on_subscribe = lambda c, u, mid, codes, props: subscribed.set()
    bridge.on_message = lambda c, u, message: requests.append((message.topic, json.loads(message.payload)))
    assert mqtt_tls.connack(bridge, stack["broker"].port) == 0
    try:
        bridge.subscribe(f"dcs/{HV}/cmd/+", qos=1)
        assert subscribed.wait(10)
        bridge.publish(f"dcs/{HV}/state", "OFF", qos=1, retain=True).wait_for_publish(10)
        bridge.publish(f"dcs/{HV}/voltage", json.dumps({"value": 12.5, "unit": "V"}), qos=1,
                       retain=True).wait_for_publish(10)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"{stack['base']}/nodered/api/dashboard/demo-module", wait_until="networkidle")
                expect(widget(page, HV, "show.state")).to_contain_text("OFF", timeout=20_000)
                expect(widget(page, HV, "show.voltage")).to_contain_text("12.5", timeout=20_000)
                widget(page, HV, "cmd.On").locator("button").click()
                wait_for(lambda: any(t == f"dcs/{HV}/cmd/On" for t, _ in requests), timeout_s=15,
                         what="HV On request through the broker's ACL")
                topic, body = next((t, b) for t, b in requests if t == f"dcs/{HV}/cmd/On")
                assert body["client"] == "node-red" and body["id"].startswith("nr-")
                bridge.publish(f"{topic}/reply", json.dumps({"id": body["id"], "ok": False,
                                                            "error": "LV is OFF, needs ON"}), qos=1)
                expect(page.get_by_text(re.compile("Refused: .*cmd/On.*LV is OFF")).first).to_be_visible(timeout=15_000)
            finally:
                browser.close()
    finally:
        bridge.disconnect()
        bridge.loop_stop()
