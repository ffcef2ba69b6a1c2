"""A trip's actions go out at once: with the LV server hung (SIGSTOP: it answers nobody, its
commands wait for the client timeout) and an LV Off ahead of the HV Off in the dew-point rule,
the HV is still switched off within a second of the trip."""

from __future__ import annotations

import os
import signal
import time

import pytest
import tango

from devices import alarm_log

from conftest import emulator_control, start_station, switch_on
from testkit import wait_for, write_station

HV, LV1, LV2, SENSOR, SAFETY = ("demo/hv/module1", "demo/lv/module1-ch1", "demo/lv/module1-ch2", "demo/env/coldbox",
                                "demo/safety/interlock")


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    def hung_first(raw):
        sensor = next(d for s in raw["servers"] for d in s["devices"] if d["name"] == SENSOR)
        sensor["properties"].update(poll_period=0.2, stale_after=2.0)
        raw["safety"]["grace_period"] = 1.0
        rule = next(r for r in raw["safety"]["rules"] if r["name"] == "coldbox-dew-point")
        rule["actions"] = [{"device": LV2, "command": "Off"}, {"device": HV, "command": "Off"}]

    launcher = start_station(write_station(tmp_path_factory.mktemp("parallel"), hung_first, safety=True))
    yield launcher
    launcher.stop()


def proxy(launcher, name):
    device = tango.DeviceProxy(f"tango://{launcher.station.tango_host}/{name}")
    device.set_timeout_millis(5000)
    return device


def test_a_hung_device_ahead_in_the_actions_does_not_delay_the_hv_off(launcher):
    lv1, lv2, hv, safety = (proxy(launcher, n) for n in (LV1, LV2, HV, SAFETY))
    wait_for(lambda: safety.state() == tango.DevState.ON, timeout_s=15, what="interlock armed")
    switch_on([lv1, lv2], hv)
    server = next(c for c in launcher.children if c.name == "server PowerSupply/demo-lv")
    os.kill(server.pid, signal.SIGSTOP)
    try:
        started = time.time()
        emulator_control(launcher.station, "coldbox-sht85").send("set humidity 95")  # margin < 3 K: a trip
        log = alarm_log.alarm_file(launcher.station.data_dir)

        def dew_point_trip():  # from the alarm log: the hung LV, silent, soon trips LV-lost too (last_trip)
            events, _ = alarm_log.read_events(log) if log.exists() else ([], 0)
            return next((e for e in events if e.get("id") == "coldbox-dew-point" and e.get("event") == "raised"), None)

        trip = wait_for(dew_point_trip, timeout_s=20, what="the dew-point trip recorded")
        lv_action, hv_action = trip["actions"]
        assert (lv_action["device"], hv_action["device"]) == (LV2, HV)
        assert lv_action["result"].startswith("failed") and hv_action["result"] == "ok", trip["actions"]
        assert lv_action["done"] - lv_action["issued"] > 2.0, "the hung LV's Off did not wait for its timeout"
        assert hv_action["done"] - lv_action["issued"] < 1.0, \
            f"the HV Off ended {hv_action['done'] - lv_action['issued']:.2f} s after the hung LV's Off was sent"
        assert trip["latency_ms"] < 1000 and hv_action["issued"] >= started
        wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=15, what="HV ramped down and off")
    finally:
        os.kill(server.pid, signal.SIGCONT)
