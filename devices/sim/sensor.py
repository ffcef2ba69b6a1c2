"""Leakage current of a reverse-biased silicon sensor.

Bulk generation current grows with the depleted depth (sqrt of the bias up
to full depletion), then an ohmic term takes over; the whole doubles every
~7 K, the usual rule of thumb for silicon. A breakdown voltage, when set,
adds an avalanche above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class SiliconSensor:
    full_depletion_v: float = 250.0
    leakage_at_depletion_a: float = 1.5e-6  # at the reference temperature
    ohmic_ohm: float = 2.0e9
    reference_c: float = 20.0
    doubling_k: float = 7.0
    breakdown_v: float | None = None  # above it, avalanche: the current grows e-fold every 10 V
    avalanche_v: float = 10.0

    def current(self, volts: float, temperature_c: float) -> float:
        bias = abs(volts)
        depleted = math.sqrt(min(bias, self.full_depletion_v) / self.full_depletion_v)
        amps = self.leakage_at_depletion_a * depleted + bias / self.ohmic_ohm
        if self.breakdown_v is not None and bias > self.breakdown_v:
            amps *= math.exp(min((bias - self.breakdown_v) / self.avalanche_v, 50.0))
        amps *= 2.0 ** ((temperature_c - self.reference_c) / self.doubling_k)
        return math.copysign(amps, volts) if bias else 0.0
