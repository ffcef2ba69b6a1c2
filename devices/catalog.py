"""The Tango device classes this project serves, and the instrument models each accepts.

The launcher runs every device server with all of them; validation and the
README tables read their metadata from here.
"""

from __future__ import annotations

from devices.chiller.device import Chiller
from devices.drivers.factory import CHILLER_MODELS, ENVIRONMENT_MODELS, POWER_SUPPLY_MODELS
from devices.environment.device import EnvironmentSensor
from devices.power_supply.device import PowerSupplyChannel
from devices.safety.device import SafetyInterlock

DEVICE_CLASSES = {cls.__name__: cls for cls in (PowerSupplyChannel, EnvironmentSensor, Chiller, SafetyInterlock)}

INSTRUMENT_MODELS: dict[str, tuple[str, ...]] = {
    "PowerSupplyChannel": tuple(sorted(POWER_SUPPLY_MODELS)),
    "EnvironmentSensor": ENVIRONMENT_MODELS,
    "Chiller": CHILLER_MODELS,
}

# channels each instrument model has (single-channel instruments: channel 1)
MODEL_CHANNELS: dict[str, tuple[int, ...]] = {
    **{name: cls.channels for name, cls in POWER_SUPPLY_MODELS.items()},
    **dict.fromkeys(ENVIRONMENT_MODELS + CHILLER_MODELS, (1,)),
}

# instruments whose resource is a serial port (path or pyserial URL), not a VISA resource
SERIAL_MODELS = ("dht22",)

# attributes `trackerdcs status` shows for each class
KEY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "PowerSupplyChannel": ("voltage_setpoint", "voltage", "current", "output"),
    "EnvironmentSensor": ("temperature", "humidity", "dew_point"),
    "Chiller": ("setpoint", "bath_temperature", "running"),
}
