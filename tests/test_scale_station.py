"""A generated 25-module station (trackerdcs config generate: 2 LV channels on a shared HMP4040 and
1 HV on its own Keithley 2410 per module, a cold box per 10 modules, 82 devices in 10 servers)
brought up with `trackerdcs up --detach`: every module powered on at once through the interlock
(PowerOn runs the modules' sequences in parallel), a dew-point trip in one box switching off
every HV of that box together and no other, the operator panel (a tile per module, a search,
device pages built when first shown), then `trackerdcs down` leaving no process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import tango
import yaml

from db.config.generate import station
from db.config.validation import load_station

from conftest import emulator_control
from testkit import ROOT, free_port, free_ports, station_processes, wait_for

MODULES = 25


@pytest.fixture(scope="module")
def scale(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale")
    instruments = len(station(MODULES)["instruments"])
    raw = station(MODULES, base_port=free_ports(2 * instruments), database_port=free_port(), broker_port=free_port())
    raw["data_dir"] = str(tmp / "data")
    raw["safety"]["grace_period"] = 3.0
    path = tmp / "scale.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    started = time.monotonic()
    up = _cli("up", str(path), "--detach", timeout=300)
    loaded = load_station(path)
    yield {"path": path, "station": loaded, "host": loaded.tango_host, "up_s": time.monotonic() - started, "up": up}
    _cli("down", str(path), timeout=300)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trackerdcs", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _proxy(scale, name: str) -> tango.DeviceProxy:
    proxy = tango.DeviceProxy(f"tango://{scale['host']}/{name}")
    proxy.set_timeout_millis(5000)
    return proxy


def test_every_module_powers_on_at_once_and_a_box_trip_switches_off_its_hvs_together(scale):
    assert scale["up"].returncode == 0, scale["up"].stdout + scale["up"].stderr
    loaded = scale["station"]
    modules = [m.name for m in loaded.station.modules]
    hvs = [m.hv for m in loaded.station.modules]
    safety = _proxy(scale, "scale/safety/interlock")
    wait_for(lambda: safety.state() == tango.DevState.ON, timeout_s=30, what="interlock armed")
    for name in hvs:
        _proxy(scale, name).write_attribute("voltage_setpoint", 20.0)
    started = time.monotonic()
    for module in modules:
        safety.PowerOn(module)
    wait_for(lambda: not safety.sequencing, timeout_s=120, what="every module's sequence finished")
    powered_s = time.monotonic() - started
    log = list(safety.sequence_log)
    assert not [line for line in log if line.startswith("FAILED")], log
    assert sorted(line for line in log if line.startswith("done: ")) == sorted(f"done: {m} is on" for m in modules)
    assert all(_proxy(scale, name).state() == tango.DevState.ON for name in hvs)
    print(f"\nscale N={MODULES}: up {scale['up_s']:.1f} s; all {MODULES} modules on at once in {powered_s:.1f} s")

    box1 = [m.hv for m in loaded.station.modules[:10]]
    emulator_control(loaded, "box01-sht85").send("set humidity 95")  # the dew point within 3 K: box01 trips
    wait_for(lambda: json.loads(safety.last_trip or "{}").get("rule") == "box01-dew-point", timeout_s=20,
             what="box01's dew-point trip recorded")
    trip = json.loads(safety.last_trip)
    assert sorted(a["device"] for a in trip["actions"]) == sorted(box1)
    assert all(a["result"] == "ok" for a in trip["actions"]), trip["actions"]
    issued = [a["issued"] for a in trip["actions"]]
    assert max(a["done"] for a in trip["actions"]) - min(issued) < 1.0, trip["actions"]
    print(f"scale N={MODULES}: box01 trip: every HV Off issued within {1e3 * (max(issued) - min(issued)):.0f} ms, "
          f"{trip['latency_ms']:.0f} ms after the unsafe reading")
    wait_for(lambda: all(_proxy(scale, n).state() == tango.DevState.OFF for n in box1), timeout_s=30,
             what="every HV of box01 off")
    assert all(_proxy(scale, n).state() == tango.DevState.ON for n in hvs[10:]), "a trip in box01 switched off another box"


def test_the_panel_shows_a_tile_per_module_finds_one_and_drills_down(scale):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from taurus.external.qt import Qt
    from taurus.qt.qtgui.application import TaurusApplication
    from test_gui import spin_until

    from gui.panel import StationPanel

    TaurusApplication.instance() or TaurusApplication([sys.argv[0]], cmd_line_parser=None)
    started = time.monotonic()
    panel = StationPanel(scale["station"])
    panel.resize(1600, 1000)
    panel.show()
    try:
        opened_s = time.monotonic() - started
        hv = scale["station"].station.modules[0].hv
        spin_until(lambda: all(panel.tile_feed.text(m.hv, "State") in ("ON", "OFF", "MOVING")
                               for m in scale["station"].station.modules), timeout_s=30, what="every tile's HV state")
        shown_s = time.monotonic() - started
        assert panel.tile_feed.text(hv, "voltage").endswith(" V") and panel.tile_feed.text(hv, "current").endswith(" A")
        assert not panel.tile_feed.failed, panel.tile_feed.failed
        print(f"\nscale N={MODULES}: panel open in {opened_s:.1f} s, every tile's HV state shown in {shown_s:.1f} s")
        assert panel.large and len(panel.tiles.tiles) == MODULES
        assert panel.forms == {}, "device pages are built when first shown, not at start"
        panel.tiles.search.setText("m02")
        assert panel.tiles.visible() == [f"m{i:03d}" for i in range(20, 26)]
        panel.tiles.search.setText("")
        assert len(panel.tiles.visible()) == MODULES
        panel.findChild(Qt.QPushButton, "details/m007").click()
        assert panel.tabs.currentIndex() == 1 and set(panel.forms) == {"scale/hv/m007"}
        assert panel.findChild(Qt.QPushButton, "scale/hv/m007/On") is not None
    finally:
        panel.close()


def test_down_leaves_nothing_behind(scale):
    before = station_processes(scale["host"])
    assert before, "the station's processes were not found (TANGO_HOST in their environment)"
    down = _cli("down", str(scale["path"]), timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    wait_for(lambda: not station_processes(scale["host"]), timeout_s=30, what="every process of the station gone")
