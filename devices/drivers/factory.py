"""Open a power-supply driver by model name and VISA resource string."""

from __future__ import annotations

from devices.drivers.hmp4040 import Hmp4040Driver
from devices.drivers.keithley2410 import Keithley2410Driver
from devices.drivers.power_supply import PowerSupplyDriver
from devices.drivers.transport import VisaTransport

POWER_SUPPLY_MODELS = {
    "hmp4040": Hmp4040Driver,
    "keithley2410": Keithley2410Driver,
}


def open_power_supply(model: str, resource: str, timeout_s: float = 2.0) -> PowerSupplyDriver:
    try:
        driver_class = POWER_SUPPLY_MODELS[model]
    except KeyError:
        known = ", ".join(sorted(POWER_SUPPLY_MODELS))
        raise ValueError(f"unknown power-supply model {model!r} (known: {known})") from None
    return driver_class(VisaTransport(resource, timeout_s=timeout_s))
