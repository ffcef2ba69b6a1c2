"""What the emulated runCalibration and fpgaconfig do (the command line is in __main__.py).

``$PH2ACF_BASE_DIR/emulator.json`` (all keys optional)::

    {"speed": 0.05,                          # real step durations x speed
     "modules": ["demo-module"],             # per optical group: seeds each module's channel pattern
     "world": {"temperature": ["127.0.0.1", 15032, "box_c"],    # emulator control ports to read
               "bias": ["127.0.0.1", 15028, "voltage"]},        # the module's conditions from
     "faults": {"no_fc7": false, "hang_at": "PedeNoise", "crash_at": null, "bad_channels": 0}}

Noise follows the conditions: +0.3 %/K around 20 degC, and up to x1.8 when the
sensor is not depleted (|bias| below 150 V), as "HV not applied -> very high
noise" (research ph2acf.md §1.4).
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import sys
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

from devices.daq import calibrations
from devices.daq.calibrations import HYBRIDS_PER_MODULE, Chip
from devices.sim.server import EmulatorControl

THREAD_MAIN, THREAD_CALIBRATION = 140489373334720, 140488984229440
DEPLETION_V = 150.0
GIT_TAG = "emulator-v6-25"


def _now() -> str:
    return time.strftime("%d.%m.%Y %H:%M:%S")


def log(text: str, level: str = "I", thread: int = THREAD_MAIN) -> None:
    colour = {"I": "\x1b[32m", "W": "\x1b[33m", "E": "\x1b[31m"}.get(level, "")
    print(f"{colour}{_now()}: |{thread}|{level}| {text}\x1b[0m")


def base_dir() -> Path:
    return Path(os.environ.get("PH2ACF_BASE_DIR") or os.getcwd())


def settings() -> dict:
    path = base_dir() / "emulator.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log(f"emulator: cannot read {path}: {exc}", "E")
        return {}
    return data if isinstance(data, dict) else {}


def _abort(code_signal: int = signal.SIGABRT) -> None:
    sys.stdout.flush()
    signal.signal(code_signal, signal.SIG_DFL)
    os.kill(os.getpid(), code_signal)
    time.sleep(5)
    os._exit(134)


def _throw(message: str) -> None:
    """An uncaught C++ exception: std::terminate, then SIGABRT."""
    print("terminate called after throwing an instance of 'std::runtime_error'")
    print(f"  what():  {message}")
    _abort()


def describe_board(xml_path: Path) -> list[tuple[int, str]]:
    """(optical group, module type) of each optical group in the hardware description."""
    root = ET.parse(xml_path).getroot()
    groups = []
    for group in root.iter("OpticalGroup"):
        kinds = {chip.tag for chip in group.iter() if chip.tag in ("CBC", "SSA2", "MPA2", "SSA", "MPA")}
        groups.append((int(group.get("Id", len(groups))), "2S" if "CBC" in kinds else "PS"))
    if not groups:
        raise ValueError(f"{xml_path}: no OpticalGroup in the hardware description")
    return groups


def _condition(spec, default: float) -> float:
    """One number of the emulated world: [host, port, key] of an emulator control port."""
    if not (isinstance(spec, list) and len(spec) == 3):
        return default
    try:
        value = EmulatorControl(str(spec[0]), int(spec[1]), timeout_s=2.0).state().get(str(spec[2]))
        return float(value)
    except (OSError, RuntimeError, ValueError, TypeError):
        return default


def noise_factor(temperature_c: float, bias_v: float) -> float:
    depletion = min(abs(bias_v) / DEPLETION_V, 1.0)
    return (1.0 + 0.003 * (temperature_c - 20.0)) * (1.0 + 0.8 * (1.0 - depletion))


def chip_data(module: str, group: int, module_type: str, factor: float, run: int, bad: int) -> list[dict]:
    """Per-channel pedestal, noise and offset of one module, reproducible per module name."""
    import numpy as np  # here, not at the top: fpgaconfig and the start of a run stay quick

    pattern = np.random.default_rng(zlib.crc32(module.encode()))
    shot = np.random.default_rng(zlib.crc32(f"{module}:{run}".encode()))
    chips = []
    for local in range(HYBRIDS_PER_MODULE):
        hybrid = HYBRIDS_PER_MODULE * group + local
        for chip_id, chip in calibrations.module_chips(module_type):
            chips.append(_one_chip(chip, chip_id, hybrid, group, pattern, shot, factor))
    for _ in range(bad):  # dead channels: the fit fails, Ph2_ACF forces the noise to 0
        c = chips[int(shot.integers(len(chips)))]
        channel = int(shot.integers(c["chip"].channels))
        c["noise"].ravel()[channel] = 0.0
        c["dead"].append(channel)
    return chips


def _one_chip(chip: Chip, chip_id: int, hybrid: int, group: int, pattern, shot, factor: float) -> dict:
    import numpy as np

    n = chip.channels
    if chip.kind == "CBC3":
        mean_noise, mean_pedestal, offsets = 5.0, 550.0, (80.0, 255)
    elif chip.kind == "SSA2":
        mean_noise, mean_pedestal, offsets = 4.0, 84.0, (15.0, 31)
    else:
        mean_noise, mean_pedestal, offsets = 2.35, 208.0, (15.0, 31)
    chip_noise = pattern.normal(mean_noise, 0.05 * mean_noise)
    noise = pattern.normal(chip_noise, 0.06 * mean_noise, n)
    if chip.kind == "CBC3":
        noise[1::2] *= 1.15  # odd channels read the bottom sensor: longer traces
    noise = np.clip(noise * factor + shot.normal(0, 0.02 * mean_noise, n), 0.1, None).astype(np.float32)
    pedestal = (pattern.normal(mean_pedestal, 2.0, n) + shot.normal(0, 0.3, n)).astype(np.float32)
    offset = np.clip(np.rint(pattern.normal(offsets[0], offsets[0] / 6, n)), 0, offsets[1]).astype(np.float32)
    return {"board": 0, "group": group, "hybrid": hybrid, "id": chip_id, "chip": chip,
            "noise": noise.reshape(chip.shape), "pedestal": pedestal.reshape(chip.shape),
            "offset": offset.reshape(chip.shape), "dead": []}


def _next_run_number() -> int:
    """returnAndIncreaseRunNumber("RunNumbers.dat"): relative to the working directory."""
    path = Path("RunNumbers.dat")
    numbers = [int(x) for x in path.read_text().split() if x.isdigit()] if path.exists() else []
    run = (numbers[-1] if numbers else 0) + 1
    with path.open("a") as out:
        out.write(f"{run}\n")
    return run


def _sleep(seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.2))


def _on_sigint(signum, frame) -> None:
    log("Supervisor: SIGINT received, aborting the run", "W")
    _abort()


def run_calibration(args) -> int:
    started = time.time()
    config = settings()
    speed = float(config.get("speed", 1.0))
    faults = config.get("faults") or {}
    signal.signal(signal.SIGINT, _on_sigint)
    log("Initialized")
    log("Tool created")
    log("Bootstrapping TCP Server...")
    base = base_dir()
    if args.file:
        xml = Path(os.path.expandvars(args.file))
    else:
        numbers = Path("RunNumbers.dat").read_text().split() if Path("RunNumbers.dat").exists() else []
        last = args.run if args.run is not None else (int(numbers[-1]) if numbers else None)
        xml = base / "Results" / f"Run_{last}" / "Configuration.xml"
    if not xml.is_file():
        _throw(f"Error: the hardware description {xml} does not exist")
    try:
        board = describe_board(xml)
    except (ET.ParseError, ValueError) as exc:
        _throw(f"Error: {exc}")
    try:
        steps = calibrations.steps(args.calibration)
    except ValueError:
        _throw(f"Error: calibration tag {args.calibration} does not exist")
    _sleep(calibrations.CONFIGURE_SECONDS * speed / 2)
    if faults.get("no_fc7"):
        log("ControlHub returned error code 3", "E")
        _throw("uhal::exception::ControlHubErrorCodeFailure: ControlHub returned error code 3")
    modules = list(config.get("modules") or [])
    print("*" * 80)
    print(" " * 35 + "HW SUMMARY")
    print(" |----BeBoard --> Id: 0, BoardType: D19C")
    for group, kind in board:
        print(f" |   |----OpticalGroup --> Id: {group} ({kind})")
    print("*" * 80)
    print("Setting -- Nevents:1000")
    for group, _ in board:
        log(f"FuseID from LpGBT optical group {group} on Board 0: {0xec2acd51 + group:#x}")
    _sleep(calibrations.CONFIGURE_SECONDS * speed / 2)
    run = _next_run_number()
    result_dir = Path("Results") / f"Run_{run}"
    log(f"Run {run} started")
    bad = int(faults.get("bad_channels") or 0)
    chips: list[dict] = []
    for step in steps:
        if faults.get("hang_at") == step:
            log(f"Starting {step} measurement.", thread=THREAD_CALIBRATION)
            sys.stdout.flush()
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # hung in firmware: deaf to the watchdog
            while True:
                time.sleep(1)
        _step(step, speed, faults)
        if step == "PedeNoise":
            temperature = _condition((config.get("world") or {}).get("temperature"), 20.0)
            bias = _condition((config.get("world") or {}).get("bias"), 0.0)
            factor = noise_factor(temperature, bias)
            for group, kind in board:
                name = modules[group] if group < len(modules) else f"module-og{group}"
                chips += chip_data(name, group, kind, factor, run, bad)
            for c in chips:
                for channel in c["dead"]:
                    log(f"Problem in deriving noise for Board 0 Optical Group {c['group']} Hybrid {c['hybrid']} "
                        f"ReadoutChip {c['id']} Channel {channel}, forcing it to 0.", "W", THREAD_CALIBRATION)
            log(f"Emulated conditions: T = {temperature:.1f} degC, bias = {bias:.0f} V", thread=THREAD_CALIBRATION)
            log("Done with noise", thread=THREAD_CALIBRATION)
            log("Noise measurement stopped.", thread=THREAD_CALIBRATION)
    print("int main(int, char**)Supervisor Sending Stop!!!")
    (base / result_dir).mkdir(parents=True, exist_ok=True)
    (base / result_dir / "Configuration.xml").write_text(xml.read_text())
    log(f"New configuration file saved: {base / result_dir / 'Configuration.xml'}")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
    metadata = {
        "Detector/CalibrationName_Detector": args.calibration,
        "Detector/CalibrationStartTimestamp_Detector": stamp,
        "Detector/CalibrationStopTimestamp_Detector": time.strftime("%Y-%m-%d %H:%M:%S"),
        "Detector/GitTag_Detector": GIT_TAG,
        "Detector/GitCommitHash_Detector": "0" * 40,
        "Detector/Username_Detector": getpass.getuser(),
        "Detector/HostName_Detector": socket.gethostname(),
    }
    for group, _ in board:
        where = f"Detector/Board_0/OpticalGroup_{group}"
        metadata[f"{where}/D_B(0)_NameId_OpticalGroup({group})"] = ""
        metadata[f"{where}/D_B(0)_LpGBTFuseId_OpticalGroup({group})"] = str(0xec2acd51 + group)
    _sleep(calibrations.SHUTDOWN_SECONDS * speed / 2)
    from devices.sim.ph2acf.root_file import write_results

    write_results(base / result_dir / "Results.root", metadata, chips)
    log(f"Closing result file: {result_dir / 'Results.root'}")
    log(f"Run {run} stopped")
    _sleep(calibrations.SHUTDOWN_SECONDS * speed / 2)
    log("Halted")
    print(f"Total execution time:  finished at: {time.ctime()}")
    print(f"\telapsed time: {time.time() - started:.2f} seconds")
    return 0


def _step(step: str, speed: float, faults: dict) -> None:
    seconds = calibrations.STEP_SECONDS.get(step, 5.0) * speed
    thread = THREAD_CALIBRATION
    if step == "PedestalEqualization":
        log("Starting Pedestal Equalization", thread=thread)
    elif step == "PedeNoise":
        log("Starting noise measurement", thread=thread)
    else:
        log(f"Starting {step} measurement.", thread=thread)
    if faults.get("crash_at") == step:
        _sleep(seconds / 2)
        log(f"{step}: D19cFWInterface::ReadBlockReg FAILED", "E", thread)
        _abort(signal.SIGSEGV)
    _sleep(seconds)
    if step == "PedestalEqualization":
        log("Done with Pedestal Equalization", thread=thread)
    elif step != "PedeNoise":
        log(f"Done with {step}.", thread=thread)
        log(f"Stopping {step} measurement.", thread=thread)
        log(f"{step} stopped.", thread=thread)


def fpgaconfig(args) -> int:
    faults = settings().get("faults") or {}
    if faults.get("no_fc7"):
        log("ControlHub returned error code 3", "E")
        print("terminate called after throwing an instance of 'uhal::exception::ControlHubErrorCodeFailure'")
        return 1
    if args.list:
        print("FC7 SD card images:")
        for image in ("ot_2s_v4.6.bit", "ot_ps_v4.6.bit"):
            print(f"  {image}")
        return 0
    if args.image:
        log(f"Loading image {args.image} into the FPGA")
        return 0
    print("nothing to do: give -l or -i", file=sys.stderr)
    return 2
