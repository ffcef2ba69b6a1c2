"""A dead event channel is not safe: with the LV server's ZMQ event port blocked (iptables on
loopback; the server still answers calls on its GIOP port, and Tango's own heartbeats, on their
own port, still come), the LV's heartbeat stops, the interlock counts its inputs as unknown,
says so in its status, and the LV-lost rule switches the HV off. Needs root and iptables
(scripts/test.sh installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import tango

from conftest import start_station, switch_on
from testkit import free_ports, wait_for, write_station

HV, LV1, LV2, SENSOR, SAFETY = ("demo/hv/module1", "demo/lv/module1-ch1", "demo/lv/module1-ch2", "demo/env/coldbox",
                                "demo/safety/interlock")


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    if shutil.which("iptables") is None:
        raise RuntimeError("iptables is not installed: run scripts/test.sh, which installs it")
    port = free_ports(3)

    def pinned(raw):
        raw["safety"]["grace_period"] = 1.0
        next(s for s in raw["servers"] if s["name"] == "PowerSupply/demo-lv")["port"] = port

    launcher = start_station(write_station(tmp_path_factory.mktemp("liveness"), pinned, safety=True))
    yield launcher, port + 1  # the LV server's ZMQ event port
    launcher.stop()


def proxy(launcher, name):
    device = tango.DeviceProxy(f"tango://{launcher.station.tango_host}/{name}")
    device.set_timeout_millis(3000)
    return device


def _iptables(action: str, event_port: int) -> None:
    for direction in ("--sport", "--dport"):
        subprocess.run(["iptables", action, "INPUT", "-i", "lo", "-p", "tcp", direction, str(event_port), "-j", "DROP"],
                       check=True, capture_output=True, timeout=10)


def test_a_blocked_event_port_makes_the_lv_unknown_and_switches_the_hv_off(station):
    launcher, event_port = station
    lv, hv, safety = proxy(launcher, LV1), proxy(launcher, HV), proxy(launcher, SAFETY)
    wait_for(lambda: safety.state() == tango.DevState.ON, timeout_s=15, what="interlock armed")
    assert "silent" not in safety.status()
    switch_on([lv], hv)
    _iptables("-I", event_port)
    try:
        wait_for(lambda: f"silent (no heartbeat, inputs stale): {LV1}" in safety.status(), timeout_s=10,
                 what="the interlock naming the LV silent")
        assert lv.state() == tango.DevState.ON, "the LV still answers and is still on: only its events are dead"
        wait_for(lambda: json.loads(safety.last_trip or "{}").get("rule") == "module1-lv-lost", timeout_s=10,
                 what="LV-lost tripped on the silent LV")
        assert json.loads(safety.last_trip)["values"][f"state:{LV1}"] == "UNKNOWN"
        wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=15, what="HV ramped down and off")
    finally:
        _iptables("-D", event_port)
    wait_for(lambda: "silent" not in safety.status(), timeout_s=30, what="the LV's heartbeat back")
    lv.Off()
