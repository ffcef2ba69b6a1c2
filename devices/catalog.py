"""The Tango device classes this project serves, and the instrument models each accepts.

The launcher runs every device server with all of them; validation and the
README tables read their metadata from here. The models themselves are in
devices/models.py.
"""

from __future__ import annotations

from devices.chiller.device import Chiller
from devices.daq.burnin_device import BurnInSequencer
from devices.daq.device import Ph2AcfRunner
from devices.daq.iv_device import IvScanner
from devices.environment.device import EnvironmentSensor
from devices.models import MODELS, models_of
from devices.power_supply.device import PowerSupplyChannel
from devices.safety.device import SafetyInterlock

DEVICE_CLASSES = {cls.__name__: cls for cls in (PowerSupplyChannel, EnvironmentSensor, Chiller, SafetyInterlock,
                                                     Ph2AcfRunner, IvScanner, BurnInSequencer)}

INSTRUMENT_MODELS: dict[str, tuple[str, ...]] = {
    name: models_of(name) for name in DEVICE_CLASSES if models_of(name)
}

# channels each instrument model has (single-channel instruments: channel 1)
MODEL_CHANNELS: dict[str, tuple[int, ...]] = {name: entry.channels for name, entry in MODELS.items()}

# attributes `trackerdcs status` shows for each class
KEY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "PowerSupplyChannel": ("voltage_setpoint", "voltage", "current", "output"),
    "EnvironmentSensor": ("temperature", "humidity", "dew_point"),
    "Chiller": ("setpoint", "bath_temperature", "running"),
    "Ph2AcfRunner": ("run_number", "calibration", "step", "progress"),
    "IvScanner": ("run_number", "run_status", "voltage", "current"),
    "BurnInSequencer": ("session_status", "current_step"),
}
