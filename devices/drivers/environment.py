"""What environment-sensor drivers report, and the dew point."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

# Magnus formula coefficients over water (Sonntag 1990), valid -45..60 degC
MAGNUS_A = 17.62
MAGNUS_B = 243.12


def dew_point(temperature_c: float, humidity_pct: float) -> float:
    """Dew point in degC from temperature (degC) and relative humidity (%)."""
    if not 0.0 < humidity_pct <= 100.0:
        raise ValueError(f"relative humidity must be in (0, 100] %, not {humidity_pct}")
    gamma = math.log(humidity_pct / 100.0) + MAGNUS_A * temperature_c / (MAGNUS_B + temperature_c)
    return MAGNUS_B * gamma / (MAGNUS_A - gamma)


@dataclass(frozen=True)
class ClimateReading:
    temperature: float  # degC
    humidity: float  # %RH
    sequence: int  # increases with every new measurement the sensor made


class EnvironmentDriver(Protocol):
    model: str

    def verify(self) -> None: ...

    def read(self) -> ClimateReading | None: ...

    def close(self) -> None: ...
