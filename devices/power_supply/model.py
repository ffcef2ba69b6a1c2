"""Values the power-supply component manager observes and reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ChannelState(enum.Enum):
    """Mirrors the Tango states used for a channel (DESIGN.md contracts)."""

    INIT = "INIT"
    OFF = "OFF"
    ON = "ON"
    MOVING = "MOVING"
    ALARM = "ALARM"
    FAULT = "FAULT"


class LimitError(ValueError):
    """A requested value is outside the channel's configured limits."""


@dataclass(frozen=True)
class ChannelLimits:
    voltage_min: float = 0.0
    voltage_max: float = 10.0
    current_limit_max: float = 1.0
    ramp_rate_max: float = 100.0
    ramp_required: bool = False  # HV channels must ramp: ramp_rate 0 is refused

    def __post_init__(self):
        if self.voltage_min > self.voltage_max:
            raise ValueError(f"voltage_min {self.voltage_min} is above voltage_max {self.voltage_max}")


@dataclass(frozen=True)
class Trip:
    time: float  # epoch seconds
    voltage: float
    current: float


@dataclass(frozen=True)
class ChannelStatus:
    """One observation of a channel, with what the manager is doing about it."""

    state: ChannelState
    status: str
    time: float  # epoch seconds of the observation
    voltage: float = 0.0
    current: float = 0.0
    output: bool = False
    tripped: bool = False
    voltage_setpoint: float = 0.0  # the target the channel ramps to
    source_level: float = 0.0  # what the instrument currently sources
    current_limit: float = 0.0
    ramp_rate: float = 0.0
    last_trip: Trip | None = None
    extra: dict = field(default_factory=dict)
