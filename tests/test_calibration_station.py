"""Calibration runs in a running demo station: the FC7 board's Ph2AcfRunner with the emulated
runCalibration, the interlock, the embedded run store (secantusdb, started by `up`), the bridge
(MQTT start and progress) and `trackerdcs runs`."""

from __future__ import annotations

import json
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import tango
from click.testing import CliRunner

from trackerdcs.cli import cli

from conftest import emulator_control, start_station
from testkit import wait_for, write_station

HV, LV, SENSOR, SAFETY, FC7 = "demo/hv/module1", "demo/lv/module1-ch1", "demo/env/coldbox", "demo/safety/interlock", \
    "demo/daq/fc7"


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    def faster(raw):
        sensor = next(d for s in raw["servers"] for d in s["devices"] if d["name"] == SENSOR)
        sensor["properties"].update(poll_period=0.2, stale_after=2.0)
        raw["safety"]["grace_period"] = 1.0
        raw["instruments"]["fc7-daq"]["emulator"]["speed"] = 0.02

    launcher = start_station(write_station(tmp_path_factory.mktemp("calibration"), faster, safety=True, daq=True))
    yield launcher
    launcher.stop()


def proxy(launcher, name):
    device = tango.DeviceProxy(f"tango://{launcher.station.tango_host}/{name}")
    device.set_timeout_millis(5000)
    return device


def power(launcher, on: bool, hv_volts: float | None = 200) -> None:
    """On: LV on, then (unless hv_volts is None) HV ramped to hv_volts. Off: HV off, LV off."""
    lv, hv = proxy(launcher, LV), proxy(launcher, HV)
    if on:
        lv.current_limit, lv.voltage_setpoint = 1.0, 2.5
        lv.On()
        wait_for(lambda: lv.state() == tango.DevState.ON, what="LV on")
        hv.ramp_rate = 50
        if hv_volts is None:
            return
        hv.voltage_setpoint = hv_volts
        hv.On()
        wait_for(lambda: hv.state() == tango.DevState.ON, timeout_s=15, what="HV at bias")
    else:
        if hv.state() != tango.DevState.OFF:
            hv.Off()
        wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=15, what="HV off")
        lv.Off()


def runs(launcher, *args) -> str:
    result = CliRunner().invoke(cli, ["runs", *args, "-s", str(launcher.station.path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_start_refused_while_the_interlock_says_no(launcher):
    fc7 = proxy(launcher, FC7)
    wait_for(lambda: proxy(launcher, SAFETY).state() == tango.DevState.ON, timeout_s=15, what="interlock armed")
    wait_for(lambda: fc7.state() == tango.DevState.DISABLE, timeout_s=10, what="DISABLE")
    assert fc7.status() == f"Start refused: {LV} is OFF, needs ON"
    with pytest.raises(tango.DevFailed) as info:
        fc7.Start("2SquickTest")
    assert info.value.args[0].desc == f"Start refused: {LV} is OFF, needs ON"


def test_quick_test_over_mqtt_runs_to_the_store_with_its_conditions(launcher, tmp_path):
    power(launcher, True)
    try:
        fc7 = proxy(launcher, FC7)
        wait_for(lambda: fc7.state() == tango.DevState.STANDBY, timeout_s=10, what="STANDBY")
        host, port = launcher.station.station.bridge.mqtt.broker
        seen, replies = [], []
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)

        def on_message(_c, _u, message):
            if message.topic.endswith("/reply"):
                replies.append(json.loads(message.payload))
            elif message.topic.endswith("/progress"):
                seen.append(json.loads(message.payload)["value"])

        client.on_message = on_message
        client.connect(host, port)
        client.subscribe([(f"dcs/{FC7}/progress", 0), (f"dcs/{FC7}/cmd/Start/reply", 1)])
        client.loop_start()
        try:
            wait_for(lambda: seen, timeout_s=10, what="the retained progress")
            client.publish(f"dcs/{FC7}/cmd/Start", json.dumps("2SquickTest"), qos=1)
            wait_for(lambda: replies, timeout_s=10, what="the reply")
            assert replies[0] == {"ok": True, "result": 1}
            wait_for(lambda: fc7.state() != tango.DevState.RUNNING and fc7.run_status != "running", timeout_s=60,
                     what="the run to end")
            assert fc7.run_status == "done"
            wait_for(lambda: seen[-1] == 100.0, timeout_s=10, what="progress 100 % on MQTT")
            assert len(set(seen)) >= 10
        finally:
            client.loop_stop()
            client.disconnect()
        shown = runs(launcher, "show", "1")
        assert "run 1 on demo/daq/fc7: 2SquickTest done" in shown
        assert "module demo-module: pass" in shown  # biased at 200 V, 21 C: noise ~5 VcTh
        assert "conditions at start" in shown and "conditions at end" in shown
        assert f"{HV}/voltage" in shown
        data = json.loads(runs(launcher, "conditions", "1", "--json"))
        joined = {(j["phase"], j["attribute"]): j for j in data["joined"]}
        start_hv = joined[("start", f"{HV}/voltage")]
        assert start_hv["snapshot"] == pytest.approx(200, abs=1)
        # the archived value in effect at the snapshot's time is within the archive deadband (0.5 V)
        assert start_hv["archived"] == pytest.approx(start_hv["snapshot"], abs=0.6)
        assert start_hv["archived_time"] <= start_hv["snapshot_time"] + 1e-3
        assert data["series"][f"{SENSOR}/temperature"]
        plot = tmp_path / "conditions.png"
        runs(launcher, "conditions", "1", "--plot", str(plot))
        assert plot.stat().st_size > 5000
        listed = json.loads(runs(launcher, "list", "--json"))
        assert [r["run_number"] for r in listed] == [1] and listed[0]["grades"] == {"demo-module": "pass"}
    finally:
        power(launcher, False)


def test_a_humidity_trip_mid_run_aborts_the_run_and_ramps_hv_down(launcher):
    power(launcher, True)
    fc7, hv, safety = proxy(launcher, FC7), proxy(launcher, HV), proxy(launcher, SAFETY)
    emulator_json = launcher.station.ph2acf_dir("fc7-daq") / "emulator.json"
    settings = json.loads(emulator_json.read_text())
    emulator_json.write_text(json.dumps({**settings, "speed": 0.2}))  # a run long enough to trip in
    sensor = emulator_control(launcher.station, "coldbox-sht85")
    try:
        wait_for(lambda: fc7.state() == tango.DevState.STANDBY, timeout_s=10, what="STANDBY")
        number = fc7.Start("2SquickTest")
        wait_for(lambda: fc7.steps_done >= 1, timeout_s=30, what="a step done")
        sensor.send("set humidity 95")
        wait_for(lambda: fc7.run_status != "running", timeout_s=30, what="the run to end")
        assert fc7.run_status == "aborted: coldbox-dew-point"
        wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=30, what="HV ramped down")
        run = json.loads(runs(launcher, "show", str(number), "--json"))["run"]
        assert run["status"] == "aborted" and run["reason"] == "aborted: coldbox-dew-point"
        assert fc7.state() == tango.DevState.DISABLE  # the tripped rule still says no
    finally:
        emulator_json.write_text(json.dumps(settings))
        sensor.send("set humidity 3")
        power(launcher, False)
        wait_for(lambda: "coldbox-dew-point: TRIPPED" not in " ".join(safety.rule_states) or _reset(safety),
                 timeout_s=20, what="the rule reset")


def _reset(safety) -> bool:
    try:
        safety.Acknowledge("coldbox-dew-point")
        safety.Reset("coldbox-dew-point")
        return True
    except tango.DevFailed:
        return False


IV = "demo/daq/iv-module1"


def iv_scan(launcher, request: str, timeout_s: float = 60.0) -> tuple[int, str]:
    scanner = proxy(launcher, IV)
    number = scanner.Start(request)
    wait_for(lambda: scanner.run_status != "running", timeout_s=timeout_s, what="the IV scan to end")
    return number, scanner.run_status


def test_iv_scan_steps_to_the_end_ramps_down_and_writes_the_central_db_csv(launcher, tmp_path):
    power(launcher, True)
    try:
        request = json.dumps({"v_stop": 100, "v_step": 20, "settle_s": 0.2, "samples": 2, "comment": "ci"})
        number, status = iv_scan(launcher, request)
        assert status == "completed: reached 100 V"
        hv = proxy(launcher, HV)
        wait_for(lambda: hv.state() == tango.DevState.OFF, timeout_s=15, what="HV off after the scan")
        data = json.loads(runs(launcher, "iv", str(number), "--json"))
        points = data["iv_scan"]["points"]
        assert [round(v) for v in points["V"]] == [0, 20, 40, 60, 80, 100]
        assert all(a < b for a, b in zip(points["I"][1:], points["I"][2:], strict=False))  # leakage grows with V
        assert all(t == pytest.approx(21, abs=3) for t in points["T"])
        csv_text = Path(data["iv_scan"]["csv"]).read_text()
        assert csv_text.startswith("#NameLabel,demo-module\n#Date,")
        assert "#RunType,IV_TEST" in csv_text and "VOLTS,CURRNT_NAMP,TEMP_DEGC,RH_PRCNT,TIME" in csv_text
        assert data["run"]["run_type"] == "iv" and data["run"]["status"] == "completed"
        plot = tmp_path / "iv.png"
        runs(launcher, "iv", str(number), "--plot", str(plot))
        assert plot.stat().st_size > 5000
    finally:
        power(launcher, False)


def test_iv_scan_stops_at_breakdown_and_at_compliance_and_refuses_bad_requests(launcher):
    power(launcher, True, hv_volts=None)  # LV on (the HV permit), HV off: each scan starts it at 0 V
    smu = emulator_control(launcher.station, "hv-k2410")
    try:
        scanner = proxy(launcher, IV)
        with pytest.raises(tango.DevFailed, match="v_stop 900 V is above the limit max_voltage = 600 V"):
            scanner.Start(json.dumps({"v_stop": 900}))
        with pytest.raises(tango.DevFailed, match="unknown IV scan preset 'sideways'"):
            scanner.Start("sideways")
        smu.send("set breakdown 70")
        _, status = iv_scan(launcher, json.dumps({"v_stop": 200, "v_step": 20, "settle_s": 0.2, "samples": 1,
                                                   "compliance_a": 1e-4}))
        assert status.startswith("breakdown at 80.0 V: the current rose from"), status
        smu.send("set breakdown 0")
        _, status = iv_scan(launcher, json.dumps({"v_stop": 200, "v_step": 20, "settle_s": 0.2, "samples": 1,
                                                   "compliance_a": 6e-7}))
        assert status.startswith("compliance: "), status
        hv = proxy(launcher, HV)
        wait_for(lambda: not hv.output, timeout_s=15, what="HV ramped down and off")
        assert hv.state() == tango.DevState.ALARM  # the trip is latched until Reset
        wait_for(lambda: _reset_channel(hv), timeout_s=15, what="the HV trip reset")
    finally:
        smu.send("set breakdown 0")
        power(launcher, False)


def _reset_channel(hv) -> bool:
    if hv.state() != tango.DevState.ALARM:
        return True
    try:
        hv.Reset()
        return True
    except tango.DevFailed:
        return False


def test_module_report_shows_the_whole_history(launcher, tmp_path):
    """After the runs above: a quick test that passed, an aborted one, three IV scans (one broke down)."""
    result = CliRunner().invoke(cli, ["report", "demo-module", "-s", str(launcher.station.path), "-o",
                                      str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report" / "index.html").read_text()
    assert "<h1>Module demo-module</h1>" in page
    assert "Summary: FAIL" in page  # the breakdown fails the module
    assert page.count("<tr><td>") == 5
    assert ">pass</td>" in page and "breakdown (breakdown 80 V)" in page
    for png in ("iv.png", "noise_chips.png", "noise_channels_run1.png"):
        assert (tmp_path / "report" / png).stat().st_size > 5000, png
    assert "conditions at start: " in page and "dead channels: " in page
    unknown = CliRunner().invoke(cli, ["report", "nobody", "-s", str(launcher.station.path), "-o", str(tmp_path / "x")])
    assert unknown.exit_code == 1 and "no run of module 'nobody' in the run store" in unknown.output


BURNIN = "demo/daq/burnin-module1"


def session_done(burnin) -> bool:
    return burnin.session_status in ("done", "failed", "aborted")


def test_burn_in_runs_every_step_and_resumes_after_its_server_is_killed(launcher):
    import os
    import signal

    proxy(launcher, HV).ramp_rate = 50  # the power step ramps at the channel's rate
    burnin = proxy(launcher, BURNIN)
    burnin.Start("ci-session")
    wait_for(lambda: session_done(burnin), timeout_s=120, what="the burn-in session to end")
    steps = list(burnin.session_steps)
    assert burnin.session_status == "done", steps
    assert [s.split(":")[0] for s in steps] == ["0 power_on hv_volts=200.0", "1 wait attribute=demo/env/coldbox/"
                                                "temperature below=30.0 stable_s=2.0 timeout_s=600.0",
                                                "2 calibration tag=2SquickTest", "3 iv request=quick_test",
                                                "4 power_off"]
    assert "(run " in steps[2] and "(run " in steps[3]
    assert proxy(launcher, HV).state() == tango.DevState.OFF
    listed = json.loads(runs(launcher, "list", "--json", "--limit", "100"))
    recorded = [r for r in listed if r["run_type"] == "burnin_step" and r["session"] == "ci-session"]
    assert sorted(r["step_index"] for r in recorded) == [0, 1, 2, 3, 4]
    assert all(r["status"] == "done" for r in recorded)

    # a second session; its server is killed while the calibration runs, the launcher restarts it
    fc7 = proxy(launcher, FC7)
    emulator_json = launcher.station.ph2acf_dir("fc7-daq") / "emulator.json"
    settings = json.loads(emulator_json.read_text())
    emulator_json.write_text(json.dumps({**settings, "speed": 0.1}))
    try:
        burnin.Start("ci-crash")
        wait_for(lambda: fc7.run_status == "running", timeout_s=60, what="the calibration step running")
        number = fc7.run_number
        server = next(c for c in launcher.children if c.name == "server BurnIn/demo")
        os.kill(server.pid, signal.SIGKILL)
        # killed at once: maybe between the run's Start and the session saving its number (it adopts the run)
        back = wait_for(lambda: _answers(launcher) and proxy(launcher, BURNIN).session_status,
                        timeout_s=60, what="the burn-in server back")
        assert back in ("running", "done"), f"{back}: {list(proxy(launcher, BURNIN).session_steps)}"
        burnin = proxy(launcher, BURNIN)
        wait_for(lambda: session_done(burnin), timeout_s=120, what="the resumed session to end")
        steps = list(burnin.session_steps)
        assert burnin.session_status == "done", (steps, list(fc7.last_runs))
        # the run that was going, waited for, not started again
        assert f"(run {number})" in steps[2], (steps, list(fc7.last_runs))
    finally:
        emulator_json.write_text(json.dumps(settings))
        power(launcher, False)


def _answers(launcher) -> bool:
    try:
        proxy(launcher, BURNIN).ping()
        return True
    except tango.DevFailed:
        return False
