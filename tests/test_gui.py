"""The Taurus station panel against a running station, offscreen (QT_QPA_PLATFORM=offscreen)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import tango

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from taurus.external.qt import Qt  # noqa: E402
from taurus.qt.qtgui.application import TaurusApplication  # noqa: E402

from db.config.validation import load_station  # noqa: E402
from gui.panel import StationPanel  # noqa: E402

from conftest import emulator_control, start_station
from testkit import write_station

HV, LV, SENSOR = "demo/hv/module1", "demo/lv/module1-ch1", "demo/env/coldbox"
ADMIN = "dserver/powersupply/demo-lv"  # a device of a class the panel has never seen (the server's admin device)


@pytest.fixture(scope="module")
def app():
    return TaurusApplication.instance() or TaurusApplication([sys.argv[0]], cmd_line_parser=None)


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    def extra(raw):
        raw.setdefault("external_devices", []).append({"name": ADMIN})
        raw["safety"]["grace_period"] = 1.0

    launcher = start_station(write_station(tmp_path_factory.mktemp("gui"), extra, safety=True, daq=True))
    yield launcher
    launcher.stop()


@pytest.fixture(scope="module")
def panel(app, launcher):
    widget = StationPanel(launcher.station)
    widget.resize(1200, 800)
    widget.show()
    yield widget
    widget.close()


def spin_until(predicate, timeout_s: float = 10.0, what: str = "condition"):
    """Run the Qt event loop (not processEvents + sleep) until predicate() is true."""
    loop = Qt.QEventLoop()
    deadline = time.monotonic() + timeout_s
    result = {}

    def check():
        value = predicate()
        if value or time.monotonic() > deadline:
            result["value"] = value
            loop.quit()

    timer = Qt.QTimer()
    timer.timeout.connect(check)
    timer.start(20)
    loop.exec_()
    timer.stop()
    if not result.get("value"):
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
    return result["value"]


def proxy(launcher, name):
    device = tango.DeviceProxy(f"tango://{launcher.station.tango_host}/{name}")
    device.set_timeout_millis(3000)
    return device


def text(panel, device, attribute) -> str:
    return panel.labels[panel.model(device, attribute)].text()


def test_panel_lists_every_device_with_a_form(panel, launcher):
    names = {d.name for _, d in launcher.station.station.devices()} | {ADMIN}
    assert set(panel.forms) == names
    generic = panel.forms[ADMIN]
    spin_until(lambda: len(generic.getItems()) >= 2, what="a generic form for an unknown class")
    assert panel.findChild(Qt.QPushButton, f"{HV}/On") is not None
    assert panel.findChild(Qt.QPushButton, f"{ADMIN}/Init") is None  # no made-up buttons for unknown classes
    limits = panel.findChild(Qt.QLabel, f"{HV}/limits").text()
    assert "voltage_max = 600.0" in limits and "current_limit_max = 0.0001" in limits


def test_widgets_share_one_event_buffer_and_no_thread_each(panel, launcher):
    """Taurus's per-widget buffering starts a timer thread per widget (500 on a 100-module overview);
    the panel's widgets are flushed by one Qt timer instead (gui/event_buffer.py)."""
    import threading

    from gui.panel import REFRESH_S

    widgets = list(panel.labels.values()) + [item for form in panel.forms.values() for item in form.getItems()]
    assert len(widgets) > 30
    assert all(w._bufferedEventsTimer is None and w._eventBufferPeriod == REFRESH_S for w in widgets
               if hasattr(w, "setEventBufferPeriod"))
    timer_threads = [t for t in threading.enumerate() if t.name.startswith("TimerLoop")]
    assert len(timer_threads) < 10, f"{len(timer_threads)} Taurus timer threads for {len(widgets)} widgets"


def test_values_match_a_pytango_client(panel, launcher):
    spin_until(lambda: text(panel, SENSOR, "temperature").strip() not in ("", "-----"), what="temperature shown")
    sensor = proxy(launcher, SENSOR)

    def matches():
        shown = float(text(panel, SENSOR, "temperature").split()[0])
        return abs(shown - sensor.temperature) < 0.1

    spin_until(matches, what="the panel's temperature equal to pytango's")
    assert text(panel, HV, "State") == "OFF"


def test_values_keep_their_tango_format_and_have_captions(panel, launcher):
    # the HV current's format is %.4e: a µA leakage current must not show as 0.0000 A
    pattern = re.compile(r"^-?\d\.\d{4}e[+-]\d\d A$")
    spin_until(lambda: pattern.match(text(panel, HV, "current")), what="HV current in its %.4e format")
    assert float(text(panel, HV, "current").split()[0]) == pytest.approx(proxy(launcher, HV).current, abs=1e-9)
    captions = {label.text() for label in panel.tabs.widget(0).findChildren(Qt.QLabel)}
    # the station file's labels, else the attribute names
    assert {"HV bias", "Leakage current", "temperature", "humidity", "dew point", "tripped"} <= captions


def test_refused_hv_on_shows_the_reason(panel, launcher):
    assert proxy(launcher, LV).state() == tango.DevState.OFF
    panel.findChild(Qt.QPushButton, f"{HV}/On").click()
    assert "On refused" in panel.message.text() and "needs ON" in panel.message.text()
    assert "Traceback" not in panel.message.text()


def test_trip_turns_alarm_colour_within_1_s_and_off_button_reaches_device(panel, launcher):
    hv, lv = proxy(launcher, HV), proxy(launcher, LV)
    spin_until(lambda: proxy(launcher, "demo/safety/interlock").state() == tango.DevState.ON, what="interlock armed")
    panel.findChild(Qt.QPushButton, f"{LV}/On").click()
    spin_until(lambda: lv.state() == tango.DevState.ON, what="LV on from the panel")
    hv.ramp_rate = 50
    hv.voltage_setpoint = 30
    panel.findChild(Qt.QPushButton, f"{HV}/On").click()
    spin_until(lambda: hv.state() == tango.DevState.ON, what="HV on from the panel")
    emulator_control(launcher.station, "hv-k2410").send("trip")
    spin_until(lambda: hv.state() == tango.DevState.ALARM, what="HV ALARM")
    seen = time.monotonic()
    label = panel.labels[panel.model(HV, "State")]
    spin_until(lambda: label.text() == "ALARM", timeout_s=1.0, what="ALARM shown within 1 s")
    assert time.monotonic() - seen < 1.0
    image = label.grab().toImage()
    colour = image.pixelColor(image.width() // 4, image.height() // 2)
    assert (colour.red(), colour.green(), colour.blue()) == (255, 140, 0), "Tango's ALARM orange"
    spin_until(lambda: not hv.output, timeout_s=10, what="ramped down after the trip")
    panel.findChild(Qt.QPushButton, f"{HV}/Reset").click()
    spin_until(lambda: hv.state() == tango.DevState.OFF, what="HV reset from the panel")
    hv.voltage_setpoint = 20
    panel.findChild(Qt.QPushButton, f"{HV}/On").click()
    spin_until(lambda: hv.state() in (tango.DevState.MOVING, tango.DevState.ON), what="HV on again")
    panel.findChild(Qt.QPushButton, f"{HV}/Off").click()
    spin_until(lambda: hv.state() == tango.DevState.OFF, timeout_s=10, what="HV Off pressed in the panel")
    panel.findChild(Qt.QPushButton, f"{LV}/Off").click()


def test_interlock_view_shows_rules_and_alarms(panel, launcher):
    panel.refresh_safety()
    rules = panel.rule_lists["demo/safety/interlock"]
    entries = [rules.item(i).text() for i in range(rules.count())]
    assert "coldbox-dew-point: OK" in entries and len(entries) == 3


def test_screenshot_command_writes_a_picture(launcher, tmp_path):
    out = tmp_path / "panel.png"
    result = subprocess.run([sys.executable, "-m", "trackerdcs", "gui", str(launcher.station.path), "--screenshot", str(out),
                             "--settle", "2"], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert result.returncode == 0, result.stderr[-2000:]
    image = Qt.QImage(str(out))
    assert image.width() >= 800 and image.height() >= 600
    colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 23)}
    assert len(colours) > 5, "the screenshot is blank"


def test_a_panel_of_a_station_that_is_down_says_so(app, tmp_path):
    stopped = load_station(write_station(tmp_path))  # nothing started: its Tango database does not answer
    widget = StationPanel(stopped)
    try:
        text = widget.message.text()
        assert f"station demo is down: its Tango database {stopped.tango_host} does not answer" in text
        assert f"trackerdcs up {stopped.path}" in text
    finally:
        widget.close()


def test_alarm_table_is_fed_over_mqtt_not_from_the_stations_disk(panel, launcher):
    """The alarm view reads the bridge's retained dcs/$alarms topics, so it works on any PC."""
    sensor = emulator_control(launcher.station, "coldbox-sht85")
    sensor.send("set humidity 60")  # above max_alarm 50 %: an attribute alarm, far from condensing

    def shown() -> bool:
        panel.refresh_safety()
        table = panel.alarm_table
        rows = [[table.item(r, c).text() for c in range(5)] for r in range(table.rowCount())]
        return any(row[1] == "demo/env/coldbox/humidity" and row[4] == "ACTIVE" for row in rows)

    try:
        assert panel.alarm_feed is not None and "$alarms" in panel.alarm_feed.topic
        spin_until(shown, timeout_s=20, what="the humidity alarm in the panel's alarm table")
    finally:
        sensor.send("set humidity 3")


def test_run_view_lists_the_tags_starts_with_one_and_shows_the_refusal(panel, launcher):
    fc7 = "demo/daq/fc7"
    panel.tabs.setCurrentWidget(panel.runs_view)
    tags = panel.findChild(Qt.QComboBox, f"{fc7}/tag")
    spin_until(lambda: tags.count() > 0, what="the board's allowed calibrations")
    assert [tags.itemText(i) for i in range(tags.count())] == list(proxy(launcher, fc7).allowed_calibrations)
    assert proxy(launcher, LV).state() == tango.DevState.OFF
    panel.findChild(Qt.QPushButton, f"{fc7}/Start").click()
    assert panel.message.text() == f"{fc7} Start refused: Start refused: {LV} is OFF, needs ON"
    presets = panel.findChild(Qt.QComboBox, "demo/daq/iv-module1/tag")
    assert presets.itemText(0) == "quick_test"
    assert panel.findChild(Qt.QProgressBar, f"{fc7}/progress") is not None
    panel.findChild(Qt.QPushButton, f"{fc7}/Abort").click()  # nothing runs: nothing to do, no error
    assert panel.message.text() == f"{fc7} Abort: done"
    spin_until(lambda: text(panel, fc7, "State") == "DISABLE", what="the board's DISABLE state shown")
