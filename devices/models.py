"""The instrument models this project drives: one entry each, the only list there is.

An entry says which Tango device class serves the model, its output channels,
how it is reached (a VISA resource, or a serial line for the DHT22 sketch),
how to open its driver and how to emulate it. The device classes, the station
file's validation, the emulator process and the README read it from here.
Adding a model is its driver (and emulator) module plus one entry below; see
docs/decisions/0007-one-instrument-registry.md.

No Tango here: entries name their device class by its Tango class name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from devices.drivers.dht22_serial import Dht22SerialDriver
from devices.drivers.hmp4040 import Hmp4040Driver
from devices.drivers.julabo import JulaboDriver
from devices.drivers.keithley2410 import Keithley2410Driver
from devices.drivers.sht85 import Sht85Driver
from devices.drivers.transport import VisaTransport
from devices.sim.coldbox import ColdBox
from devices.sim.environment import Sht85Model
from devices.sim.hmp4040 import Hmp4040Model
from devices.sim.julabo import JulaboModel
from devices.sim.keithley2410 import Keithley2410Model


@dataclass(frozen=True)
class InstrumentModel:
    name: str
    device_class: str  # the Tango class that serves it
    open_driver: Callable[[str, float], object] | None  # (resource, timeout in s) -> driver; None: a program runs it
    channels: tuple[int, ...] = (1,)
    transport: Literal["visa", "serial", "ipbus"] = "visa"  # ipbus: an FC7 board, driven by Ph2_ACF's programs
    # tcp: a ScpiModel served on TCP; pty: a pseudo-terminal; process: an emulated program run in place of the real one
    emulator: Literal["tcp", "pty", "process"] | None = "tcp"
    make_emulator: Callable[[ColdBox], object] | None = None  # tcp emulators: the model behind the port


def _visa(driver, **terminations):
    return lambda resource, timeout_s: driver(VisaTransport(resource, timeout_s=timeout_s, **terminations))


MODELS: dict[str, InstrumentModel] = {model.name: model for model in (
    InstrumentModel("hmp4040", "PowerSupplyChannel", _visa(Hmp4040Driver), channels=Hmp4040Driver.channels,
                    make_emulator=lambda box: Hmp4040Model()),
    InstrumentModel("keithley2410", "PowerSupplyChannel", _visa(Keithley2410Driver), channels=Keithley2410Driver.channels,
                    make_emulator=lambda box: Keithley2410Model()),
    InstrumentModel("sht85", "EnvironmentSensor", _visa(Sht85Driver), make_emulator=Sht85Model),
    InstrumentModel("dht22", "EnvironmentSensor", lambda resource, timeout_s: Dht22SerialDriver(resource),
                    transport="serial", emulator="pty"),
    InstrumentModel("julabo", "Chiller", _visa(JulaboDriver, write_termination="\r", read_termination="\r\n"),
                    make_emulator=JulaboModel),
    # an FC7 board running Ph2_ACF: devices/daq/process.py runs runCalibration; devices/sim/ph2acf emulates it
    InstrumentModel("fc7", "Ph2AcfRunner", None, transport="ipbus", emulator="process"),
)}


def model(name: str, device_class: str | None = None) -> InstrumentModel:
    """The entry of ``name``; with ``device_class``, it must be a model that class serves."""
    entry = MODELS.get(name)
    served = models_of(device_class) if device_class else tuple(MODELS)
    if entry is None or name not in served:
        what = f"{device_class} model" if device_class else "instrument model"
        raise ValueError(f"unknown {what} {name!r} (known: {', '.join(served)})")
    return entry


def models_of(device_class: str) -> tuple[str, ...]:
    return tuple(sorted(name for name, entry in MODELS.items() if entry.device_class == device_class))


def open_driver(name: str, resource: str, timeout_s: float = 2.0, device_class: str | None = None):
    """The driver of an instrument, by model name and resource."""
    entry = model(name, device_class)
    if entry.open_driver is None:
        raise ValueError(f"model {name!r} has no driver: its device class runs a program")
    return entry.open_driver(resource, timeout_s)


def tcp_emulated() -> tuple[str, ...]:
    return tuple(sorted(name for name, entry in MODELS.items() if entry.emulator == "tcp"))


def make_emulator(name: str, box: ColdBox | None = None):
    """A fresh emulated instrument; cold-box instruments share ``box`` (one per emulator process)."""
    entry = MODELS.get(name)
    if entry is None or entry.make_emulator is None:
        raise ValueError(f"no emulator for model {name!r} (known: {', '.join(tcp_emulated())})")
    return entry.make_emulator(box or ColdBox())


def process_emulated() -> tuple[str, ...]:
    return tuple(sorted(name for name, entry in MODELS.items() if entry.emulator == "process"))


def serial_models() -> tuple[str, ...]:
    return tuple(sorted(name for name, entry in MODELS.items() if entry.transport == "serial"))
