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


ENVIRONMENT_MODELS = ("dht22", "sht85")
CHILLER_MODELS = ("julabo",)


def open_environment_sensor(model: str, resource: str, timeout_s: float = 2.0):
    """A DHT22 sketch on a serial port (resource: device path or pyserial URL) or an SHT85 readout (VISA)."""
    from devices.drivers.dht22_serial import Dht22SerialDriver
    from devices.drivers.sht85 import Sht85Driver

    if model == "dht22":
        return Dht22SerialDriver(resource)
    if model == "sht85":
        return Sht85Driver(VisaTransport(resource, timeout_s=timeout_s))
    raise ValueError(f"unknown environment-sensor model {model!r} (known: {', '.join(ENVIRONMENT_MODELS)})")


def open_chiller(model: str, resource: str, timeout_s: float = 2.0):
    from devices.drivers.julabo import JulaboDriver

    if model == "julabo":
        return JulaboDriver(VisaTransport(resource, timeout_s=timeout_s, write_termination="\r", read_termination="\r\n"))
    raise ValueError(f"unknown chiller model {model!r} (known: {', '.join(CHILLER_MODELS)})")
