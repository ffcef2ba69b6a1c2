"""Which emulator serves which instrument model."""

from __future__ import annotations

from devices.sim.coldbox import ColdBox
from devices.sim.environment import JulaboModel, Sht85Model
from devices.sim.hmp4040 import Hmp4040Model
from devices.sim.keithley2410 import Keithley2410Model

EMULATORS = ("hmp4040", "keithley2410", "sht85", "julabo")


def make_model(model: str, box: ColdBox | None = None):
    """A fresh emulated instrument; cold-box instruments share ``box`` (one per emulator process)."""
    if model == "hmp4040":
        return Hmp4040Model()
    if model == "keithley2410":
        return Keithley2410Model()
    box = box or ColdBox()
    if model == "sht85":
        return Sht85Model(box)
    if model == "julabo":
        return JulaboModel(box)
    raise ValueError(f"no emulator for model {model!r} (known: {', '.join(EMULATORS)})")
