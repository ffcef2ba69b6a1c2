"""Thermal model of a cold box cooled by a circulator, shared by the chiller
and the sensors of one emulator process.

The bath follows the chiller setpoint (ambient when stopped) with time
constant ``tau_bath``; the box air follows the bath with ``tau_box``; the
relative humidity follows dry-air flushing (towards ``dry_humidity``) or the
lab air (``ambient_humidity``) with ``tau_humidity``. Readings carry a little
noise. Faults: a stuck sensor, a dropout (no new measurement), spikes.
"""

from __future__ import annotations

import math
import random
import threading

from devices.sim.clock import Clock, monotonic_clock

SAMPLE_PERIOD_S = 0.5  # the sensor makes a new measurement this often


def _approach(value: float, target: float, tau: float, dt: float) -> float:
    if tau <= 0:
        return target
    return target + (value - target) * math.exp(-dt / tau)


class ColdBox:
    def __init__(self, clock: Clock = monotonic_clock, ambient_c: float = 21.0, ambient_humidity: float = 45.0,
                 dry_humidity: float = 3.0, tau_bath: float = 30.0, tau_box: float = 60.0,
                 tau_humidity: float = 120.0, noise: float = 0.02, seed: int = 7):
        self.clock = clock
        self.lock = threading.RLock()
        self.ambient_c = ambient_c
        self.ambient_humidity = ambient_humidity
        self.dry_humidity = dry_humidity
        self.tau_bath, self.tau_box, self.tau_humidity = tau_bath, tau_box, tau_humidity
        self.noise = noise
        self.random = random.Random(seed)
        self.setpoint = 20.0
        self.running = False
        self.dry_air = True
        self.bath_c = ambient_c
        self.box_c = ambient_c
        self.humidity = dry_humidity
        self.measurements = 0
        self.stuck = False
        self.dropout = False
        self.spikes = 0  # the next N readings are spikes
        self._stuck_value: tuple[float, float] | None = None
        self._last = clock()
        self._last_sample = self._last

    def advance(self) -> None:
        with self.lock:
            now = self.clock()
            dt, self._last = now - self._last, now
            if dt <= 0:
                return
            bath_target = self.setpoint if self.running else self.ambient_c
            self.bath_c = _approach(self.bath_c, bath_target, self.tau_bath, dt)
            self.box_c = _approach(self.box_c, self.bath_c, self.tau_box, dt)
            humidity_target = self.dry_humidity if self.dry_air else self.ambient_humidity
            self.humidity = _approach(self.humidity, humidity_target, self.tau_humidity, dt)
            if self.dropout:
                self._last_sample = now  # the sensor measures nothing new
            else:
                periods = int((now - self._last_sample) / SAMPLE_PERIOD_S)
                self.measurements += periods
                self._last_sample += periods * SAMPLE_PERIOD_S

    def sample(self) -> tuple[float, float, int]:
        """(temperature, humidity, measurement number) as the sensor reports it now."""
        with self.lock:
            self.advance()
            if self.stuck:
                if self._stuck_value is None:
                    self._stuck_value = (round(self.box_c, 2), round(self.humidity, 2))
                t, h = self._stuck_value
                return t, h, self.measurements
            self._stuck_value = None
            t = self.box_c + self.random.gauss(0, self.noise)
            h = min(100.0, max(0.0, self.humidity + self.random.gauss(0, self.noise * 5)))
            if self.spikes > 0:
                self.spikes -= 1
                h = min(100.0, h + 40.0)
            return round(t, 2), round(h, 2), self.measurements

    def set_parameter(self, name: str, values: list[str]) -> None:
        with self.lock:
            self.advance()
            if name in ("humidity", "box_temperature", "bath_temperature") and len(values) == 1:
                value = float(values[0])
                if name == "humidity":
                    if not 0 <= value <= 100:
                        raise ValueError("humidity is in 0..100 %")
                    self.humidity = value
                elif name == "box_temperature":
                    self.box_c = value
                else:
                    self.bath_c = value
            elif name == "dry_air" and len(values) == 1:
                self.dry_air = values[0] in ("1", "on", "true")
            elif name in ("stuck", "dropout") and len(values) == 1:
                setattr(self, name, values[0] in ("1", "on", "true"))
            elif name == "spikes" and len(values) == 1:
                self.spikes = int(values[0])
            elif name in ("tau_bath", "tau_box", "tau_humidity") and len(values) == 1:
                setattr(self, name, float(values[0]))
            else:
                raise ValueError(f"unknown cold-box parameter {name!r}; use humidity, box_temperature, "
                                 "bath_temperature, dry_air, stuck, dropout, spikes, tau_bath, tau_box, tau_humidity")

    def snapshot(self) -> dict:
        with self.lock:
            self.advance()
            return {"setpoint": self.setpoint, "running": self.running, "bath_c": self.bath_c, "box_c": self.box_c,
                    "humidity": self.humidity, "dry_air": self.dry_air, "stuck": self.stuck, "dropout": self.dropout,
                    "measurements": self.measurements}
