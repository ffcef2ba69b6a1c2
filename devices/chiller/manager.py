"""Component manager of a circulator: setpoint within limits, start/stop, alarms observed."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from devices.drivers.julabo import ChillerReadback
from devices.polling import CommandRefused, PollingManager


class SetpointRefused(ValueError):
    pass


@dataclass(frozen=True)
class ChillerStatus:
    state: str  # INIT, ON, OFF, ALARM, FAULT
    status: str
    time: float
    bath_temperature: float = 0.0
    setpoint: float = 0.0
    running: bool = False
    valid: bool = False


class ChillerManager(PollingManager):
    def __init__(self, driver, setpoint_min: float, setpoint_max: float, poll_period_s: float = 1.0,
                 on_update=lambda status: None, name: str = ""):
        super().__init__(name or driver.model, poll_period_s, on_update)
        if setpoint_min > setpoint_max:
            raise ValueError(f"setpoint_min {setpoint_min} is above setpoint_max {setpoint_max}")
        self.driver = driver
        self.setpoint_min, self.setpoint_max = setpoint_min, setpoint_max
        self._last: ChillerReadback | None = None
        self._time = 0.0
        self.status = ChillerStatus("INIT", "connecting", 0.0)

    def connect(self) -> None:
        self.driver.verify()

    def disconnect(self) -> None:
        self.driver.close()

    def poll(self) -> None:
        self._last = self.driver.read()
        self._time = time.time()

    def observe(self) -> ChillerStatus:
        last = self._last
        if not self.connected or last is None:
            return ChillerStatus("FAULT" if not self.connected else "INIT",
                                 f"circulator unreachable: {self.fault}" if not self.connected else "connecting",
                                 self._time)
        values = dict(bath_temperature=last.bath_temperature, setpoint=last.setpoint, running=last.running, valid=True)
        if last.alarm:
            return ChillerStatus("ALARM", f"circulator alarm {last.status_code}: {last.status_text}", self._time, **values)
        state = "ON" if last.running else "OFF"
        text = f"{'running' if last.running else 'stopped'}, bath {last.bath_temperature:.2f} C, setpoint {last.setpoint:.2f} C"
        return ChillerStatus(state, text, self._time, **values)

    def set_setpoint(self, celsius: float) -> None:
        if not math.isfinite(celsius):
            raise SetpointRefused(f"setpoint must be a finite number, not {celsius}")
        if not self.setpoint_min <= celsius <= self.setpoint_max:
            raise SetpointRefused(f"setpoint {celsius:g} C is outside the limits "
                                  f"[setpoint_min = {self.setpoint_min:g} C, setpoint_max = {self.setpoint_max:g} C]")
        with self.lock:
            self.require_link()
            self.call(self.driver.set_setpoint, celsius)
        self.wake()

    def start_circulation(self) -> None:
        with self.lock:
            self.require_link()
            if self._last is not None and self._last.alarm:
                raise CommandRefused(f"the circulator is in alarm ({self._last.status_text}): clear it at the unit")
            self.call(self.driver.set_running, True)
        self.wake()

    def stop_circulation(self) -> None:
        with self.lock:
            self.require_link()
            self.call(self.driver.set_running, False)
        self.wake()
