"""Component manager of a temperature/humidity sensor: dew point, staleness, stuck values."""

from __future__ import annotations

import time
from dataclasses import dataclass

from devices.drivers.environment import EnvironmentDriver, dew_point
from devices.polling import PollingManager


@dataclass(frozen=True)
class ClimateStatus:
    state: str  # INIT, ON, FAULT
    status: str
    time: float  # epoch seconds of the last new measurement (0: none yet)
    temperature: float = 0.0
    humidity: float = 0.0
    dew_point: float = 0.0
    valid: bool = False  # False: the values are stale, stuck or absent (quality INVALID)

    @property
    def margin(self) -> float:
        """temperature - dew_point, K: how far the box is from condensing."""
        return self.temperature - self.dew_point


class EnvironmentSensorManager(PollingManager):
    def __init__(self, driver: EnvironmentDriver, poll_period_s: float = 1.0, stale_after_s: float = 10.0,
                 stuck_readings: int = 0, on_update=lambda status: None, name: str = ""):
        super().__init__(name or driver.model, poll_period_s, on_update)
        self.driver = driver
        self.stale_after_s = stale_after_s
        self.stuck_readings = stuck_readings  # 0: do not look for stuck values
        self._sequence: int | None = None
        self._values: tuple[float, float] | None = None
        self._new_at = 0.0  # monotonic time of the last new measurement
        self._wall = 0.0
        self._same = 0
        self._started = self.clock()
        self.status = ClimateStatus("INIT", "waiting for the first reading", 0.0)

    def connect(self) -> None:
        self.driver.verify()

    def disconnect(self) -> None:
        self.driver.close()

    def poll(self) -> None:
        reading = self.driver.read()
        if reading is None or reading.sequence == self._sequence:
            return
        self._sequence = reading.sequence
        values = (reading.temperature, reading.humidity)
        self._same = self._same + 1 if values == self._values else 0
        self._values = values
        self._new_at = self.clock()
        self._wall = time.time()

    def observe(self) -> ClimateStatus:
        now = self.clock()
        if self._values is None:
            if not self.connected:
                return ClimateStatus("FAULT", f"sensor unreachable: {self.fault}", 0.0)
            if now - self._started > self.stale_after_s:
                return ClimateStatus("FAULT", f"no reading for {now - self._started:.0f} s", 0.0)
            return ClimateStatus("INIT", "waiting for the first reading", 0.0)
        temperature, humidity = self._values
        try:
            dew = dew_point(temperature, max(humidity, 0.01))
        except ValueError:
            dew = float("nan")
        values = dict(temperature=temperature, humidity=humidity, dew_point=dew)
        age = now - self._new_at
        if not self.connected:
            return ClimateStatus("FAULT", f"sensor unreachable: {self.fault}", self._wall, **values)
        if age > self.stale_after_s:
            return ClimateStatus("FAULT", f"stale: no new reading for {age:.0f} s (limit {self.stale_after_s:g} s)",
                                 self._wall, **values)
        if self.stuck_readings and self._same >= self.stuck_readings:
            return ClimateStatus("FAULT", f"stuck: the same values for {self._same + 1} readings", self._wall, **values)
        text = f"T {temperature:.2f} C, RH {humidity:.1f} %, dew point {dew:.2f} C, margin {temperature - dew:.2f} K"
        return ClimateStatus("ON", text, self._wall, valid=True, **values)
