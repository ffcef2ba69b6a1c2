"""Emulated FC7 boards of a station: each gets a Ph2_ACF base directory before its server starts.

The directory holds the hardware description (one optical group per module
of the board, 2S or PS hybrids) and ``emulator.json``: the speed, the modules
(which seed their channel patterns) and the emulator control ports the
emulated runCalibration reads the module's temperature and bias from. Faults
injected by hand (``faults``) are kept across restarts.
"""

from __future__ import annotations

import json

from db.config.station import LoadedStation
from devices.models import process_emulated
from devices.sim.ph2acf.hardware import write_hardware_xml


def emulated_boards(station: LoadedStation) -> list[tuple[str, object]]:
    """(instrument name, device config) of each Ph2AcfRunner on an emulated board."""
    found = []
    for _, device in station.station.devices():
        instrument = station.station.instruments.get(device.instrument or "")
        if device.class_ == "Ph2AcfRunner" and instrument is not None and instrument.emulated \
                and instrument.model in process_emulated():
            found.append((device.instrument, device))
    return found


def _control_port(station: LoadedStation, device_name: str, key: str):
    for _, device in station.station.devices():
        if device.name == device_name and device.instrument:
            instrument = station.station.instruments[device.instrument]
            if instrument.emulated and instrument.tcp_address and instrument.control_port:
                return [instrument.tcp_address[0], instrument.control_port, key]
    return None


def _box_temperature(station: LoadedStation):
    for _, device in station.station.devices():
        if device.class_ == "EnvironmentSensor":
            found = _control_port(station, device.name, "box_c")
            if found:
                return found
    return None


def prepare(station: LoadedStation) -> None:
    modules = {m.name: m for m in station.station.modules}
    for instrument_name, device in emulated_boards(station):
        instrument = station.station.instruments[instrument_name]
        base = station.ph2acf_dir(instrument_name)
        names = [str(m) for m in device.properties.get("modules", [])]
        board_modules = [modules[n] for n in names if n in modules]
        write_hardware_xml(base / "settings" / f"{instrument_name}.xml",
                           [m.type for m in board_modules] or ["2S"], instrument.resource)
        path = base / "emulator.json"
        try:
            current = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            current = {}
        world = {"temperature": _box_temperature(station)}
        if board_modules:
            world["bias"] = _control_port(station, board_modules[0].hv, "voltage")
        settings = {"speed": instrument.emulator.speed, "modules": names or ["module-og0"],
                    "world": {k: v for k, v in world.items() if v}, "faults": current.get("faults", {})}
        path.write_text(json.dumps(settings, indent=2) + "\n")
