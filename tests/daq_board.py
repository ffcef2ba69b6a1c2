"""An emulated FC7 board for the tests: a Ph2_ACF base directory with a 2S hardware
description and the emulator's settings (devices/sim/ph2acf/emulator.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from devices.sim.ph2acf.hardware import write_hardware_xml

EMULATOR = [sys.executable, "-m", "devices.sim.ph2acf"]


def make_board(folder: Path, modules=("M1",), speed: float = 0.01, faults: dict | None = None,
               world: dict | None = None) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    xml = write_hardware_xml(folder / "settings" / "fc7.xml", ["2S"] * len(modules),
                             "chtcp-2.0://localhost:10203?target=fc7-emulated:50001")
    set_emulator(folder, modules=list(modules), speed=speed, faults=faults or {}, world=world or {})
    return {"base_dir": str(folder), "hardware_xml": str(xml), "executable": [*EMULATOR, "runCalibration"],
            "fpgaconfig": [*EMULATOR, "fpgaconfig"], "modules": list(modules)}


def set_emulator(folder: Path, **settings) -> None:
    path = folder / "emulator.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**current, **settings}))
