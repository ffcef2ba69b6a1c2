"""The Tango device classes this project serves, and the instrument models each accepts.

The launcher runs every device server with all of them; validation and the
README tables read their metadata from here.
"""

from __future__ import annotations

from devices.drivers.factory import POWER_SUPPLY_MODELS
from devices.power_supply.device import PowerSupplyChannel

DEVICE_CLASSES = {cls.__name__: cls for cls in (PowerSupplyChannel,)}

INSTRUMENT_MODELS: dict[str, tuple[str, ...]] = {
    "PowerSupplyChannel": tuple(sorted(POWER_SUPPLY_MODELS)),
}

# channels each instrument model has
MODEL_CHANNELS: dict[str, tuple[int, ...]] = {name: cls.channels for name, cls in POWER_SUPPLY_MODELS.items()}

# attributes `trackerdcs status` shows for each class
KEY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "PowerSupplyChannel": ("voltage_setpoint", "voltage", "current", "output"),
}
