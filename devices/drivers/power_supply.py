"""The contract every power-supply driver fulfils, so one component manager
can run an LV channel of an HMP4040 and the HV output of a Keithley 2410."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ChannelReadback:
    """One consistent snapshot of a channel, read in one transaction."""

    voltage: float  # measured output voltage, V
    current: float  # measured output current, A
    output: bool  # output relay closed
    tripped: bool  # compliance / electronic fuse tripped
    voltage_setpoint: float  # the source level the instrument holds, V
    current_limit: float  # current limit / compliance the instrument holds, A


class PowerSupplyDriver(Protocol):
    model: str
    channels: tuple[int, ...]

    def identify(self) -> tuple[str, str, str, str]: ...

    def verify(self) -> None: ...

    def drain_errors(self) -> list[tuple[int, str]]: ...

    def read_channel(self, channel: int) -> ChannelReadback: ...

    def set_voltage(self, channel: int, volts: float) -> None: ...

    def set_current_limit(self, channel: int, amps: float) -> None: ...

    def set_output(self, channel: int, on: bool) -> None: ...

    def clear_trip(self, channel: int) -> None: ...

    def close(self) -> None: ...
