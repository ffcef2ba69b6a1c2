"""The calibration-run parts without Tango or processes: Ph2_ACF's log markers, the tags, the
ROOT layout written by the emulator and read by the ingest, and IV scans on the real power-supply
manager against the emulated Keithley 2410 (a loopback socket)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from devices.daq import calibrations
from devices.daq.ingest import Grading, ingest
from devices.daq.iv_scan import IvScan, central_db_csv, parse_request
from devices.daq.ph2acf_log import parse_line
from devices.models import open_driver
from devices.power_supply.manager import PowerSupplyChannelManager
from devices.power_supply.model import ChannelLimits, ChannelState
from devices.sim.ph2acf.emulator import chip_data, noise_factor
from devices.sim.ph2acf.root_file import write_results

from testkit import wait_for

pytestmark = pytest.mark.unit  # in-process: no service, no child process

# lines in the shape of Pisa's real run log (research ph2acf.md §1.6), ANSI colours included
REAL_SHAPED = [
    ("\x1b[32m29.05.2025 15:59:56: |140489373334720|I| Run 500749 started\x1b[0m", "run_started", 500749),
    ("29.05.2025 16:00:00: |140488984229440|I| Starting OTVTRxLightYieldScan measurement.", "step_started",
     "OTVTRxLightYieldScan"),
    ("29.05.2025 16:00:01: |140488984229440|I| Done with OTVTRxLightYieldScan.", "step_done", "OTVTRxLightYieldScan"),
    ("29.05.2025 16:03:25: |140488984229440|I| Starting Pedestal Equalization", "step_started", "PedestalEqualization"),
    ("29.05.2025 16:04:02: |140488984229440|I| Done with Pedestal Equalization", "step_done", "PedestalEqualization"),
    ("29.05.2025 16:04:10: |140488984229440|I| Starting noise measurement", "step_started", "PedeNoise"),
    ("29.05.2025 16:04:28: |140488984229440|I| Done with noise", "step_done", "PedeNoise"),
    ("29.05.2025 16:04:37: |140489373334720|I| Closing result file: Results/Run_500749/Results.root", "result_file",
     "Results/Run_500749/Results.root"),
    ("29.05.2025 16:04:38: |140489373334720|I| Run 500749 stopped", "run_stopped", 500749),
    ("29.05.2025 16:04:40: |140489373334720|I| Halted", "halted", None),
    ("\telapsed time: 293.01 seconds", "elapsed", 293.01),
    ("29.05.2025 16:04:28: |1|W| Problem in deriving noise for Board 0 Optical Group 0 Hybrid 0 ReadoutChip 10 "
     "Channel row 15 col 97, forcing it to 0.", "warning", None),
    ("29.05.2025 15:59:51: |1|E| D19cOpticalInterface::Write : Wrong value read back", "error", None),
    ("29.05.2025 15:59:51: |1|E| ControlHub returned error code 3", "failure",
     "the FC7 does not answer (ControlHub error 3: board off or unreachable)"),
    ("  what():  Error: calibration tag 2SquickTst does not exist", "failure", "unknown calibration tag"),
]


@pytest.mark.parametrize(("line", "kind", "value"), REAL_SHAPED)
def test_log_markers_of_ph2acf_become_events(line, kind, value):
    event = parse_line(line)
    assert (event.kind, event.value) == (kind, value)


def test_calibration_tags_and_module_layouts():
    assert calibrations.steps("2SquickTest")[-2:] == ("PedestalEqualization", "PedeNoise")
    assert len(calibrations.steps("2SquickTest")) == 13
    with pytest.raises(ValueError, match="calibration tag 2SquickTst does not exist"):
        calibrations.steps("2SquickTst")
    assert sum(c.channels for _, c in calibrations.module_chips("2S")) * 2 == 4064
    ps = calibrations.module_chips("PS")
    assert sum(c.channels for _, c in ps if c.kind == "SSA2") * 2 == 1920
    assert sum(c.channels for _, c in ps if c.kind == "MPA2") * 2 == 30720


@pytest.mark.parametrize(("kind", "chips", "shapes"), [("2S", 16, {(254,)}), ("PS", 32, {(120,), (16, 120)})])
def test_results_root_round_trip_with_the_real_names(tmp_path, kind, chips, shapes):
    data = chip_data("M1", 0, kind, noise_factor(20.0, 300.0), run=1, bad=2)
    path = tmp_path / "Results.root"
    write_results(path, {"Detector/CalibrationName_Detector": "x"}, data, scurves=False)
    results, stored = ingest(path, ["M1"], "x", None, Grading(noise_min=0.5, noise_max=8.0, max_dead=5))
    assert len(stored) == chips and {tuple(np.shape(c["noise"])) for c in stored} == shapes
    assert 1 <= results[0]["summary"]["n_dead"] <= 2 and results[0]["summary"]["grade"] == "pass"
    assert stored[0]["source"]["object"].endswith("D_B(0)_O(0)_H(0)_ChannelNoise_Chip(0)")


def test_noise_follows_bias_and_temperature_and_grading_fails_an_unbiased_module(tmp_path):
    assert noise_factor(20.0, 0.0) == pytest.approx(1.8)
    assert noise_factor(20.0, 300.0) == pytest.approx(1.0)
    assert noise_factor(-20.0, 300.0) < noise_factor(20.0, 300.0)
    path = tmp_path / "Results.root"
    write_results(path, {}, chip_data("M1", 0, "2S", noise_factor(20.0, 0.0), run=1, bad=0), scurves=False)
    results, _ = ingest(path, ["M1"], "x", None, Grading(noise_max=8.0))
    assert results[0]["summary"]["grade"] == "fail"
    assert "mean noise" in results[0]["summary"]["reasons"][0]


def test_iv_requests_are_checked_by_name():
    defaults = {"v_step": 10.0}
    assert parse_request("after_encapsulation", defaults, 1000).v_stop == 800
    with pytest.raises(ValueError, match="v_stop 800 V is above the limit max_voltage = 600 V"):
        parse_request("after_encapsulation", defaults, 600)
    with pytest.raises(ValueError, match="unknown IV scan preset 'x'"):
        parse_request("x", defaults, 600)
    with pytest.raises(ValueError, match="v_start 50 V is above v_stop 20 V"):
        parse_request(json.dumps({"v_start": 50, "v_stop": 20}), defaults, 600)
    with pytest.raises(ValueError, match="IV scan settle_s"):
        parse_request(json.dumps({"settle_s": -1}), defaults, 600)
    with pytest.raises(ValueError, match="IV scan bogus: Extra inputs are not permitted"):
        parse_request(json.dumps({"bogus": 1}), defaults, 600)


class ManagerChannel:
    """The scan's HvChannel over the real component manager (what the Tango device wraps)."""

    def __init__(self, manager: PowerSupplyChannelManager):
        self.manager = manager

    def prepare(self, compliance_a):
        previous = self.manager.status.current_limit
        self.manager.set_current_limit(compliance_a)
        return previous

    def restore(self, compliance_a):
        self.manager.set_current_limit(compliance_a)

    def set_voltage(self, volts):
        self.manager.set_voltage_setpoint(volts)

    def on(self):
        self.manager.on()

    def off(self):
        self.manager.off()

    def read(self):
        s = self.manager.status
        return s.voltage, s.current, s.state.name, s.tripped


@pytest.fixture
def hv(emulator):
    emu = emulator("keithley2410")
    limits = ChannelLimits(voltage_min=0, voltage_max=600, current_limit_max=1e-4, ramp_rate_max=500,
                           ramp_required=True)
    manager = PowerSupplyChannelManager(open_driver("keithley2410", emu.resource, timeout_s=0.5), 1, limits,
                                        ramp_rate=200, poll_period_s=0.05)
    manager.start()
    wait_for(lambda: manager.status.state == ChannelState.OFF, what="OFF")
    yield manager, emu
    manager.stop()


def scan(manager, **settings):
    request = parse_request(json.dumps({"v_step": 20, "settle_s": 0.05, "samples": 2, **settings}), {}, 600)
    return IvScan(ManagerChannel(manager), request, 1.0, lambda: (21.0, 3.0), poll_s=0.05), request


def test_iv_scan_runs_ramps_down_and_writes_csv(hv):
    manager, _ = hv
    manager.set_current_limit(5e-5)
    wait_for(lambda: manager.status.current_limit == pytest.approx(5e-5), what="the compliance set")
    limit_before = manager.status.current_limit
    iv, settings = scan(manager, v_stop=100, module="M1")
    result = iv.run()
    assert result.status == "completed"
    assert [round(p.voltage) for p in result.points] == [0, 20, 40, 60, 80, 100]
    assert all(a.current < b.current for a, b in zip(result.points[1:], result.points[2:], strict=False))
    wait_for(lambda: manager.status.state == ChannelState.OFF and abs(manager.status.voltage) < 1, what="off at 0 V")
    wait_for(lambda: manager.status.current_limit == pytest.approx(limit_before), what="the compliance put back")
    text = central_db_csv(result, settings, "lyon", "op", 0.0)
    assert text.splitlines()[:2] == ["#NameLabel,M1", "#Date,1970-01-01 00:00:00"]
    assert text.splitlines()[7:9] == ["STATION,AV_TEMP_DEGC,AV_RH_PRCNT", "lyon,21.00,3.000"]
    assert text.splitlines()[10] == "VOLTS,CURRNT_NAMP,TEMP_DEGC,RH_PRCNT,TIME"
    assert len(text.splitlines()) == 11 + 6


def test_iv_scan_stops_at_breakdown_and_on_abort_and_always_ramps_down(hv):
    manager, emu = hv
    emu.control.send("set breakdown 70")
    iv, _ = scan(manager, v_stop=300, compliance_a=1e-4)
    result = iv.run()
    assert result.status == "breakdown" and result.breakdown_v == pytest.approx(80, abs=1)
    wait_for(lambda: manager.status.state == ChannelState.OFF, what="off after breakdown")
    emu.control.send("set breakdown 0")
    iv, _ = scan(manager, v_stop=300, settle_s=0.2)
    iv.on_point = lambda r: iv.abort("aborted by the test") if len(r.points) == 3 else None
    result = iv.run()
    assert (result.status, result.reason, len(result.points)) == ("aborted", "aborted by the test", 3)
    wait_for(lambda: manager.status.state == ChannelState.OFF and abs(manager.status.voltage) < 1, what="off at 0 V")


def test_run_store_password_comes_from_a_file_never_the_station_file(tmp_path):
    from db.config.station import RunStoreConfig
    from devices.daq.run_store import RunStoreError, with_password

    secret = tmp_path / "mongo"
    secret.write_text("s3cr:t/@\n")
    assert with_password("mongodb://dcs@db.lab:27017/?authSource=admin", str(secret)) == \
        "mongodb://dcs:s3cr%3At%2F%40@db.lab:27017/?authSource=admin"
    assert with_password("mongodb://127.0.0.1:27017", None) == "mongodb://127.0.0.1:27017"
    with pytest.raises(RunStoreError, match="names no user"):
        with_password("mongodb://db.lab:27017", str(secret))
    with pytest.raises(ValueError, match="holds a password: put it in password_file"):
        RunStoreConfig(uri="mongodb://dcs:hunter2@db.lab:27017/")
    assert RunStoreConfig().client_uri == "mongodb://127.0.0.1:27017"


class _Runner:
    """A station whose runner is busy with run 7 (tag 2SquickTest) until told to finish."""

    def __init__(self):
        self.going, self.started, self.steps = 7, [], []

    def power(self, on, hv_volts):
        pass

    def read(self, attribute):
        return 20.0

    def calibrate(self, tag):
        if self.going is not None:
            raise RuntimeError("Start refused: run 7 is running")
        self.started.append(tag)
        return 8

    def iv_scan(self, request):
        raise AssertionError("no IV step here")

    def run_outcome(self, kind):
        return None if self.going is not None else "done"

    def running_run(self, kind, tag):
        return self.going if tag == "2SquickTest" else None

    def abort_runs(self):
        pass

    def record_step(self, session, index, record):
        self.steps.append((index, record["status"], record.get("run")))


def _session_killed_after_start(path):
    """A session file as the server left it when killed between the run's Start and saving its number."""
    path.write_text(json.dumps({"name": "s", "status": "running", "started": 1.0, "ended": None, "current": 0,
                                "steps": [{"step": "calibration", "args": "tag=2SquickTest", "status": "running",
                                           "run": None, "started": 1.0, "ended": None, "reason": ""}]}))


def test_a_burn_in_resumed_after_a_kill_between_start_and_save_adopts_the_run_going(tmp_path):
    from devices.daq.burnin import BurnIn, parse_steps

    station = _Runner()
    _session_killed_after_start(tmp_path / "session.json")
    burnin = BurnIn(parse_steps('[{"do": "calibration", "tag": "2SquickTest"}]'), station, tmp_path / "session.json",
                    lambda: None, poll_s=0.01)
    assert burnin.interrupted
    burnin.resume()
    time.sleep(0.1)
    station.going = None  # run 7 ends
    deadline = time.monotonic() + 5
    while burnin.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert burnin.session["status"] == "done" and station.steps == [(0, "done", 7)] and station.started == []


def test_a_fresh_burn_in_step_never_adopts_a_run_someone_else_started(tmp_path):
    from devices.daq.burnin import BurnIn, parse_steps

    station = _Runner()
    burnin = BurnIn(parse_steps('[{"do": "calibration", "tag": "2SquickTest"}]'), station, tmp_path / "session.json",
                    lambda: None, poll_s=0.01)
    burnin.start("fresh")
    deadline = time.monotonic() + 5
    while burnin.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert burnin.session["status"] == "failed" and "Start refused" in burnin.session["steps"][0]["reason"]
