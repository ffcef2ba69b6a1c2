"""The Ph2AcfRunner device (in a process of its own, tests/device_process.py) with the emulated runCalibration and a real run store
(secantusdb over the wire; a real mongod too when MONGODB_URI is set)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pymongo
import pytest
import tango
from daq_board import make_board, set_emulator

from devices.daq.device import Ph2AcfRunner

from device_process import DeviceProcess
from services import secantus
from testkit import wait_for

STORES = ["secantusdb"] + (["mongod"] if os.environ.get("MONGODB_URI") else [])


@pytest.fixture(params=STORES)
def store_uri(request, tmp_path):
    if request.param == "mongod":
        yield os.environ["MONGODB_URI"]
        return
    service = secantus(tmp_path)
    yield f"mongodb://127.0.0.1:{service.port}"
    service.stop()


def runner(tmp_path, store_uri, database: str, **overrides):
    board = make_board(tmp_path / "ph2acf", **{k: overrides.pop(k) for k in ("faults", "speed") if k in overrides})
    properties = {**board, "run_store": store_uri, "run_store_database": database,
                  "calibrations": ["2SquickTest", "calibrationandpedenoise"], **overrides}
    # in a process of its own: a device server started inside a pytest process that earlier tests filled with
    # Tango and Taurus clients crashed (SIGSEGV in a C++ thread) in a clean-clone CI run, and a forked one hung
    return DeviceProcess(Ph2AcfRunner, properties=properties, timeout_s=30), board


def database_name(request) -> str:
    return f"t{abs(hash(request.node.name)) % 10**8}_{int(time.time())}"


def finished(device, timeout_s: float = 60.0) -> str:
    wait_for(lambda: device.state() != tango.DevState.RUNNING, timeout_s, 0.1, "the run to end")
    return device.run_status


def children_of_test() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "devices.sim.ph2acf" in " ".join(p.cmdline())]


def test_quick_test_runs_to_completion_with_progress_events_and_results_in_the_store(tmp_path, store_uri, request):
    database = database_name(request)
    context, _ = runner(tmp_path, store_uri, database)
    with context as device:
        wait_for(lambda: device.state() == tango.DevState.STANDBY, 15, what="STANDBY")
        seen = []
        device.subscribe_event("progress", tango.EventType.CHANGE_EVENT,
                               lambda e: seen.append(e.attr_value.value) if not e.err else None)
        steps, summaries = [], []
        device.subscribe_event("step", tango.EventType.CHANGE_EVENT,
                               lambda e: steps.append(e.attr_value.value) if not e.err else None)
        device.subscribe_event("run_summary", tango.EventType.ARCHIVE_EVENT,
                               lambda e: summaries.append(e.attr_value.value) if not e.err else None)
        number = device.Start("2SquickTest")
        assert number == 1
        assert device.state() == tango.DevState.RUNNING
        assert finished(device) == "done"
        assert device.state() == tango.DevState.STANDBY
        assert device.steps_done == device.steps_total == 13
        assert device.progress == 100.0
        assert device.result_path.endswith("Results/Run_1/Results.root")
        wait_for(lambda: seen and seen[-1] == 100.0, 5, what="the last progress event")
        assert len(set(seen)) >= 10, seen  # one event per step, not one lump at the end
        assert "PedeNoise" in steps and "OTLpGBTEyeOpeningTest" in steps, steps
        wait_for(lambda: summaries[-1:] == ["run 1 2SquickTest: done"], 5, what="the run's end as an archive event")
        assert "run 1 2SquickTest: running" in summaries  # its start: the two ends of Grafana's run annotation
        assert device.Start("2SquickTest") == 2
        finished(device)
    with pymongo.MongoClient(store_uri, tz_aware=True) as client:
        check_stored_quick_test(client[database])


def check_stored_quick_test(db) -> None:
    run = db.runs.find_one({"run_number": 1})
    assert run["status"] == "done" and run["calibration"] == "2SquickTest" and run["modules"] == ["M1"]
    assert run["t_start"] < run["t_end"] and run["archive"]["start"] == run["t_start"]
    assert [s["name"] for s in run["steps"]][-1] == "PedeNoise" and all(s["end"] for s in run["steps"])
    assert run["ph2acf"]["CalibrationName"] == "2SquickTest"
    chips = list(db.chip_data.find({"run_id": run["_id"]}))
    assert len(chips) == 16 and {c["type"] for c in chips} == {"CBC3"}
    assert all(len(c["noise"]) == 254 and len(c["pedestal"]) == 254 and c["shape"] == [254] for c in chips)
    result = db.module_results.find_one({"run_id": run["_id"]})
    assert result["module"] == "M1" and len(result["chips"]) == 16 and result["summary"]["grade"] in ("pass", "fail")
    assert {s["phase"] for s in db.dcs_snapshots.find({"run_id": run["_id"]})} == {"start", "end"}


def test_last_runs_are_kept_by_the_runner_not_asked_of_the_store_at_each_read(tmp_path, request):
    """A read of last_runs never waits for the run store: with the store gone it answers the list
    kept since the last run (a read that asked the store would wait its 3 s timeout, as long as
    the client's own, and fail or come back empty)."""
    store = secantus(tmp_path)
    try:
        context, _ = runner(tmp_path, f"mongodb://127.0.0.1:{store.port}", database_name(request))
        with context as device:
            wait_for(lambda: device.state() == tango.DevState.STANDBY, 15, what="STANDBY")
            assert list(device.last_runs or []) == []
            device.Start("2SquickTest")
            assert finished(device) == "done"
            wait_for(lambda: list(device.last_runs or [])[:1] and device.last_runs[0].startswith("run 1 2SquickTest done"),
                     10, 0.1, "run 1 in last_runs")
            store.stop()
            assert device.last_runs[0].startswith("run 1 2SquickTest done")
    finally:
        store.stop()


def test_abort_mid_run_leaves_no_process_and_a_run_marked_aborted(tmp_path, store_uri, request):
    database = database_name(request)
    context, _ = runner(tmp_path, store_uri, database, speed=0.2)
    with context as device:
        wait_for(lambda: device.state() == tango.DevState.STANDBY, 15, what="STANDBY")
        device.Start("2SquickTest")
        wait_for(lambda: device.steps_done >= 1, 30, what="a step done")
        assert children_of_test()
        device.Abort()
        assert finished(device, 20) == "aborted by the operator"
        assert device.state() == tango.DevState.STANDBY
        wait_for(lambda: not children_of_test(), 5, what="no emulator process left")
    with pymongo.MongoClient(store_uri) as client:
        run = client[database].runs.find_one({"run_number": 1})
    assert run["status"] == "aborted" and run["exit_code"] is not None


def test_a_run_aborted_before_ph2acf_took_its_number_leaves_the_next_run_its_own_number(tmp_path, store_uri,
                                                                                        request):
    # Ph2_ACF appends the run number to RunNumbers.dat once the board is configured: aborted before that,
    # run 1 is recorded but RunNumbers.dat is empty, and the next Start must not reuse 1 (the store's key)
    database = database_name(request)
    context, board = runner(tmp_path, store_uri, database, speed=0.2)  # configure takes 1.8 s
    with context as device:
        wait_for(lambda: device.state() == tango.DevState.STANDBY, 15, what="STANDBY")
        assert device.Start("2SquickTest") == 1
        device.Abort()
        assert finished(device, 20) == "aborted by the operator"
        numbers = tmp_path / "ph2acf" / "RunNumbers.dat"
        assert not numbers.exists() or "1" not in numbers.read_text().split()  # Ph2_ACF never took it
        set_emulator(tmp_path / "ph2acf", speed=0.01)
        assert device.Start("2SquickTest") == 2
        assert finished(device) == "done"
        assert device.result_path.endswith("Results/Run_2/Results.root")  # Ph2_ACF's number is the store's
        assert device.Start("2SquickTest") == 3
        assert finished(device) == "done"
    with pymongo.MongoClient(store_uri) as client:
        runs = {r["run_number"]: r["status"] for r in client[database].runs.find()}
    assert runs == {1: "aborted", 2: "done", 3: "done"}


def test_a_run_is_aborted_when_its_permit_stays_refused_not_for_a_refusal_of_one_moment(tmp_path, store_uri,
                                                                                        request):
    from devices.daq.manager import PERMIT_LOST_TURNS, RunManager, RunnerConfig, Snapshot
    from devices.daq.run_store import RunStore

    board = make_board(tmp_path / "ph2acf", speed=0.2)
    config = RunnerConfig(device="test/daq/fc7", executable=tuple(board["executable"]),
                          fpgaconfig=tuple(board["fpgaconfig"]), base_dir=Path(board["base_dir"]),
                          hardware_xml=Path(board["hardware_xml"]), calibrations=("2SquickTest",),
                          modules=tuple(board["modules"]))
    refusal = {"reason": ""}
    manager = RunManager(config, RunStore(store_uri, database_name(request)), lambda: refusal["reason"],
                         lambda: Snapshot(time.time(), {}), lambda: None)
    manager.start()
    try:
        manager.start_run("2SquickTest")
        refusal["reason"] = "Start refused: state of test/hv/module1 is UNKNOWN, not in ['ON']"
        time.sleep(PERMIT_LOST_TURNS - 1.5)  # refused for fewer turns than it takes
        refusal["reason"] = ""
        time.sleep(2)
        assert manager.running, manager.last_outcome
        refusal["reason"] = "Start refused: state of test/hv/module1 is OFF, not in ['ON']"
        lost = time.monotonic()
        wait_for(lambda: not manager.running, 20, what="the run aborted")
        assert time.monotonic() - lost >= PERMIT_LOST_TURNS - 1
        assert manager.last_outcome.reason == "aborted: state of test/hv/module1 is OFF, not in ['ON']"
    finally:
        manager.stop()
        wait_for(lambda: not manager.running, 20, what="the run stopped")
        manager.store.close()


def test_a_hang_trips_the_watchdog_and_signals_escalate(tmp_path, store_uri, request):
    database = database_name(request)
    context, board = runner(tmp_path, store_uri, database, faults={"hang_at": "OTalignBoardDataWord"},
                            inactivity_timeout=2.0)
    with context as device:
        wait_for(lambda: device.state() == tango.DevState.STANDBY, 15, what="STANDBY")
        device.Start("2SquickTest")
        status = finished(device, 30)  # the hung emulator ignores SIGINT: SIGTERM ends it
        assert status == "timeout: no output for 2 s (hung)", status
        assert device.state() == tango.DevState.ALARM
        wait_for(lambda: not children_of_test(), 5, what="no emulator process left")
        device.Reset()
        assert device.state() == tango.DevState.STANDBY


def test_crash_and_no_fc7_and_bad_tags_are_named(tmp_path, store_uri, request):
    database = database_name(request)
    context, board = runner(tmp_path, store_uri, database, faults={"crash_at": "PedestalEqualization"})
    with context as device:
        wait_for(lambda: device.state() == tango.DevState.STANDBY, 15, what="STANDBY")
        with pytest.raises(tango.DevFailed, match="calibration 'PSfullTest' is not allowed on this board"):
            device.Start("PSfullTest")
        device.Start("2SquickTest")
        assert finished(device).startswith("crashed: killed by SIGSEGV")
        assert device.state() == tango.DevState.ALARM
        set_emulator(tmp_path / "ph2acf", faults={"no_fc7": True})
        with pytest.raises(tango.DevFailed, match="no FC7: fpgaconfig -l exited 1"):
            device.Start("2SquickTest")
        assert device.state() == tango.DevState.FAULT


def test_bad_channels_are_stored_as_dead(tmp_path, store_uri, request):
    database = database_name(request)
    context, _ = runner(tmp_path, store_uri, database, faults={"bad_channels": 3})
    with context as device:
        wait_for(lambda: device.state() == tango.DevState.STANDBY, 15, what="STANDBY")
        device.Start("calibrationandpedenoise")
        assert finished(device) == "done"
        assert device.warnings == 3
    with pymongo.MongoClient(store_uri) as client:
        dead = sum(len(c["dead"]) for c in client[database].chip_data.find())
    assert 1 <= dead <= 3  # three picks, two may land on one channel


def test_missing_executable_is_a_fault_named(tmp_path, store_uri, request):
    context, _ = runner(tmp_path, store_uri, database_name(request), executable=["/nonexistent/runCalibration"])
    with context as device:
        wait_for(lambda: device.state() == tango.DevState.FAULT, 15, what="FAULT")
        assert "the executable '/nonexistent/runCalibration' is missing" in device.status()
