"""Calibration benchmarks: a 2S full test's result file into the run store, and progress latency.

    .venv/bin/python bench/calibration.py [--repeat 5]

Prints, for a 2SfullTest Results.root of one 2S module (written by the
emulated runCalibration): the ingest time (uproot -> documents); the BSON
sizes of the run's documents and channel arrays in the store (secantusdb over
the wire, as in the demo); and the time from Start (through a Ph2AcfRunner
in a DeviceTestContext) to its first progress event, and to the first step's
event once Ph2_ACF's own configure time (emulated) is taken out.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bson
import pymongo
import tango
from tango.test_context import DeviceTestContext

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from daq_board import EMULATOR, make_board  # noqa: E402

from devices.daq import calibrations  # noqa: E402
from devices.daq.device import Ph2AcfRunner  # noqa: E402
from devices.daq.ingest import ingest  # noqa: E402
from devices.daq.run_store import RunStore, utc  # noqa: E402

from services import secantus  # noqa: E402

SPEED = 0.001


def full_test_file(folder: Path) -> Path:
    board = make_board(folder, modules=("2S_18_5_BENCH-00001",), speed=SPEED)
    subprocess.run([*EMULATOR, "runCalibration", "-b", "-f", board["hardware_xml"], "-c", "2SfullTest"],
                   cwd=folder, env={"PH2ACF_BASE_DIR": str(folder), "PATH": "/usr/bin:/bin"}, check=True,
                   stdout=subprocess.DEVNULL)
    return folder / "Results" / "Run_1" / "Results.root"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = full_test_file(tmp / "board")
        print(f"2SfullTest Results.root of one 2S module: {results.stat().st_size / 1e6:.2f} MB "
              f"(16 CBC x 254 channels, chip S-curves 254 x 1024)")
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            module_results, chips = ingest(results, ["2S_18_5_BENCH-00001"], "2SfullTest", utc(time.time()))
            times.append(time.perf_counter() - began)
        print(f"ingest (uproot -> documents): median {statistics.median(times) * 1e3:.0f} ms over {args.repeat}")
        store_service = secantus(tmp)
        try:
            uri = f"mongodb://127.0.0.1:{store_service.port}"
            store = RunStore(uri, "bench")
            run_id = store.new_run({"device": "bench/daq/fc7", "run_number": 1, "run_type": "ph2acf",
                                    "calibration": "2SfullTest", "t_start": utc(time.time()), "modules": ["m"]})
            began = time.perf_counter()
            store.add_results(run_id, module_results, chips)
            stored_s = time.perf_counter() - began
            with pymongo.MongoClient(uri) as client:
                db = client["bench"]
                chip_sizes = [len(bson.encode(d)) for d in db.chip_data.find()]
                module_size = max(len(bson.encode(d)) for d in db.module_results.find())
                run_size = len(bson.encode(db.runs.find_one()))
            store.close()
            print(f"store write (16 chip documents + 1 module result): {stored_s * 1e3:.0f} ms")
            print(f"documents: run {run_size / 1e3:.1f} kB, module_results {module_size / 1e3:.1f} kB, "
                  f"chip_data {len(chip_sizes)} x {statistics.median(chip_sizes) / 1e3:.1f} kB "
                  f"(total channel arrays {sum(chip_sizes) / 1e3:.0f} kB; MongoDB's limit is 16 MB per document)")
            first_event, first_step = [], []
            board = make_board(tmp / "latency", speed=SPEED)
            properties = {**board, "run_store": uri, "run_store_database": "bench", "calibrations": ["2SquickTest"]}
            with DeviceTestContext(Ph2AcfRunner, properties=properties, timeout=30) as device:
                deadline = time.monotonic() + 15
                while device.state() != tango.DevState.STANDBY and time.monotonic() < deadline:
                    time.sleep(0.05)
                for _ in range(args.repeat):
                    events: list[tuple[float, str]] = []
                    ident = device.subscribe_event(
                        "step", tango.EventType.CHANGE_EVENT,
                        lambda e, events=events: events.append((time.perf_counter(), e.attr_value.value))
                        if not e.err else None)
                    time.sleep(0.3)
                    events.clear()
                    began = time.perf_counter()
                    device.Start("2SquickTest")
                    while device.state() == tango.DevState.RUNNING or device.run_status == "running":
                        time.sleep(0.05)
                    device.unsubscribe_event(ident)
                    first_event.append(events[0][0] - began)
                    step = next(t for t, v in events if v == "TuneLpGBTVref")
                    first_step.append(step - began - calibrations.CONFIGURE_SECONDS * SPEED)
            print(f"Start -> first progress event: median {statistics.median(first_event) * 1e3:.0f} ms; "
                  f"-> first step's event (less Ph2_ACF's configure): median "
                  f"{statistics.median(first_step) * 1e3:.0f} ms over {args.repeat}")
        finally:
            store_service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
