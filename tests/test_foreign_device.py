"""A foreign device, Debian's C++ TangoTest, listed under external_devices: trackerdcs registers
it, applies its polling and event thresholds, and the bridge archives and publishes its
double_scalar — with no step outside trackerdcs but running the foreign program itself."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import tango

from db.archive.embedded import EmbeddedArchive
from db.archive.open import embedded_path
from db.runtime import process

import services
from conftest import bridge_station, start_station
from mqtt_probe import Probe
from testkit import wait_for

TANGO_TEST = "/usr/lib/tango/TangoTest"
DEVICE = "sys/tg_test/1"
pytestmark = pytest.mark.skipif(not os.path.exists(TANGO_TEST),
                                reason=f"{TANGO_TEST} is absent: apt-get install tango-test (scripts/test.sh installs it)")


PANEL_PROBE = """
import json, sys
from taurus.external.qt import Qt
from taurus.qt.qtgui.application import TaurusApplication
import tango
from db.config.validation import load_station
from gui.panel import StationPanel
app = TaurusApplication([], cmd_line_parser=None)
station = load_station(sys.argv[1])
panel = StationPanel(station)
device = tango.DeviceProxy(f"tango://{station.tango_host}/sys/tg_test/1")
before = str(device.state())
panel.findChild(Qt.QPushButton, "sys/tg_test/1/SwitchStates").click()
buttons = [b.objectName() for b in panel.findChildren(Qt.QPushButton) if b.objectName().startswith("sys/")]
print(json.dumps({"buttons": buttons, "trends": list(panel.trends), "state_before": before, "state_after": str(device.state())}))
panel.close()
"""


def test_tangotest_double_scalar_is_archived_and_published(tmp_path):
    broker = services.mosquitto(tmp_path / "mosquitto")

    def foreign(raw):
        raw["external_devices"] = [{
            "name": DEVICE, "class": "TangoTest", "server": "TangoTest/test",
            "attributes": {"double_scalar": {"polling_period": 200, "abs_change": 1.0e-6, "archive_period": 1000,
                                             "archive": True, "publish": True}},
            "mqtt": {"commands": ["SwitchStates", "DevDouble"]},
        }]

    path = bridge_station(tmp_path, broker.port, {"backend": "embedded", "flush_interval": 0.1}, foreign)
    launcher = start_station(path)
    station = launcher.station
    probe = Probe(broker.port, topics=(f"dcs/{DEVICE}/#", "dcs/$bridge/health"))
    tango_test = None
    try:
        database = tango.Database(*station.tango_host.split(":"))
        assert database.get_device_info(DEVICE).ds_full_name == "TangoTest/test"
        assert list(database.get_device_property(DEVICE, ["polled_attr"])["polled_attr"]) == ["double_scalar", "200"]
        events = database.get_device_attribute_property(DEVICE, ["double_scalar"])["double_scalar"]
        assert list(events["archive_period"]) == ["1000"]
        # while its server is down, the bridge's health names the attribute and Tango's reason
        wait_for(lambda: f"{DEVICE}/double_scalar" in ((probe.last_json("dcs/$bridge/health") or {})
                                                        .get("subscription_errors") or {}),
                 timeout_s=20, what="the failing subscription named in the health")
        env = dict(os.environ, TANGO_HOST=station.tango_host)
        with open(tmp_path / "tangotest.log", "wb") as log:
            tango_test = subprocess.Popen([TANGO_TEST, "test", "-ORBendPoint", f"giop:tcp:127.0.0.1:{process.free_port()}"],
                                          env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        topic = f"dcs/{DEVICE}/double_scalar"
        wait_for(lambda: len(probe.topic(topic)) >= 3, timeout_s=30, what="double_scalar published on MQTT")
        body = json.loads(probe.topic(topic)[-1])
        assert isinstance(body["value"], float) and body["quality"] == "VALID"
        archive = EmbeddedArchive(embedded_path(station), station.name)
        try:
            now = time.time_ns()
            points = wait_for(lambda: archive.history(DEVICE, "double_scalar", now - 120 * 10**9, now + 60 * 10**9, 1000),
                              timeout_s=20, what="double_scalar archived")
        finally:
            archive.close()
        assert points
        wait_for(lambda: f"{DEVICE}/double_scalar" not in (probe.last_json("dcs/$bridge/health") or {})
                 .get("subscription_errors", {}), timeout_s=10, what="the subscription error cleared")
        status = subprocess.run([os.sys.executable, "-m", "trackerdcs", "status", str(path)], capture_output=True,
                                text=True, timeout=60)
        assert status.returncode == 0 and DEVICE in status.stdout
        panel = subprocess.run([os.sys.executable, "-c", PANEL_PROBE, str(path)], capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
        assert panel.returncode == 0, panel.stderr[-2000:]
        shown = json.loads(panel.stdout.strip().splitlines()[-1])
        assert {f"{DEVICE}/SwitchStates", f"{DEVICE}/DevDouble"} <= set(shown["buttons"]), shown
        assert shown["state_before"] != shown["state_after"], "SwitchStates pressed in the panel did not reach TangoTest"
        assert "Other devices" in shown["trends"], shown
    finally:
        probe.close()
        if tango_test is not None:
            tango_test.terminate()
            tango_test.wait(timeout=15)
        launcher.stop()
        broker.stop()
