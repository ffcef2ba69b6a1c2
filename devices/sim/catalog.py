"""Which emulator serves which instrument model."""

from __future__ import annotations

from devices.sim.hmp4040 import Hmp4040Model
from devices.sim.keithley2410 import Keithley2410Model
from devices.sim.scpi_model import ScpiModel

EMULATORS: dict[str, type[ScpiModel]] = {
    "hmp4040": Hmp4040Model,
    "keithley2410": Keithley2410Model,
}


def make_model(model: str) -> ScpiModel:
    try:
        return EMULATORS[model]()
    except KeyError:
        known = ", ".join(sorted(EMULATORS))
        raise ValueError(f"no emulator for model {model!r} (known: {known})") from None
