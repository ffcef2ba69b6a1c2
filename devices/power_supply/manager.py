"""Component manager of one power-supply channel.

A PollingManager (polling loop, reconnect backoff) that adds the voltage
ramp and trip handling; it knows nothing of Tango. The state it reports is always derived
from what the instrument answered in the last poll, never from what was
commanded. After a (re)start it reads the instrument and adopts its source
level as the setpoint: nothing is written to the hardware until a client asks.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from devices.drivers.power_supply import ChannelReadback, PowerSupplyDriver
from devices.polling import CommandRefused, PollingManager
from devices.power_supply.model import ChannelLimits, ChannelState, ChannelStatus, LimitError, Trip

log = logging.getLogger(__name__)

RAMP_TICK_S = 0.1
SETTLE_MAX_S = 3.0  # after a ramp, MOVING until the readback follows (at most this long)


def settled_tolerance(level: float) -> float:
    """How close the measured voltage must be to the source level for the channel to be ON (at its
    setpoint) rather than MOVING (settling) after a ramp: 1 %, at least 50 mV."""
    return max(0.01 * abs(level), 0.05)


class PowerSupplyChannelManager(PollingManager):
    def __init__(
        self,
        driver: PowerSupplyDriver,
        channel: int,
        limits: ChannelLimits,
        ramp_rate: float,
        poll_period_s: float = 0.5,
        on_update: Callable[[ChannelStatus], None] = lambda status: None,
        name: str = "",
    ):
        super().__init__(name or f"{driver.model}:{channel}", poll_period_s, on_update)
        self.driver = driver
        self.channel = channel
        self.limits = limits
        self._ramp_rate = self._check_ramp_rate(ramp_rate)
        self._target: float | None = None  # None until the instrument was read once
        self._level = 0.0  # last source level commanded or read
        self._ramping = False
        self._settle_until = 0.0
        self._off_after_ramp = False
        self._trip: Trip | None = None
        self._trip_latched = False
        self._last: ChannelReadback | None = None
        self.status = ChannelStatus(ChannelState.INIT, "connecting to the instrument", time.time())

    # -------------------------------------------------------------- commands
    def set_voltage_setpoint(self, volts: float) -> None:
        if not math.isfinite(volts):
            raise LimitError(f"voltage_setpoint must be a finite number, not {volts}")
        if volts > self.limits.voltage_max:
            raise LimitError(
                f"voltage_setpoint {volts:g} V is above the limit voltage_max = {self.limits.voltage_max:g} V"
            )
        if volts < self.limits.voltage_min:
            raise LimitError(
                f"voltage_setpoint {volts:g} V is below the limit voltage_min = {self.limits.voltage_min:g} V"
            )
        with self.lock:
            self.require_link()
            self._target = volts
            if self._last is not None and self._last.output:
                if not self._trip_latched:
                    self._start_ramp(off_after=False)
            elif self._ramp_rate == 0:
                self._write_level(volts)  # output off, no ramp: the instrument holds it for On
        self.wake()

    def set_current_limit(self, amps: float) -> None:
        if not math.isfinite(amps) or amps <= 0:
            raise LimitError(f"current_limit must be a positive finite number, not {amps}")
        if amps > self.limits.current_limit_max:
            raise LimitError(
                f"current_limit {amps:g} A is above the limit current_limit_max = "
                f"{self.limits.current_limit_max:g} A"
            )
        with self.lock:
            self.require_link()
            self.call(self.driver.set_current_limit, self.channel, amps)
        self.wake()

    def set_ramp_rate(self, volts_per_s: float) -> None:
        rate = self._check_ramp_rate(volts_per_s)
        with self.lock:
            self._ramp_rate = rate
        self.wake()

    def on(self) -> None:
        with self.lock:
            self.require_link()
            if self._trip_latched:
                raise CommandRefused("the channel tripped: Reset it before switching On")
            if self._target is None:
                raise CommandRefused("the instrument was not read yet")
            if not self._last.output:
                start = 0.0 if self._ramp_rate > 0 else self._target
                self._write_level(start)
                self.call(self.driver.set_output, self.channel, True)
            self._start_ramp(off_after=False)
        self.wake()

    def off(self) -> None:
        with self.lock:
            self.require_link()
            if self._last is not None and not self._last.output:
                self._ramping = False
                return
            if self._ramp_rate > 0 and abs(self._level) > 0:
                self._start_ramp(off_after=True, to=0.0)
            else:
                self._ramping = False
                self.call(self.driver.set_output, self.channel, False)
        self.wake()

    def reset(self) -> None:
        with self.lock:
            self.require_link()
            if self._last is not None and self._last.output and abs(self._level) > 0 and self._ramp_rate > 0:
                raise CommandRefused("ramp the channel down (Off) before Reset")
            self.call(self.driver.clear_trip, self.channel)
            self._trip_latched = False
            self._ramping = False
        self.wake()

    @property
    def ramp_rate(self) -> float:
        return self._ramp_rate

    # ------------------------------------------------------------ internals
    def _check_ramp_rate(self, rate: float) -> float:
        if not math.isfinite(rate) or rate < 0:
            raise LimitError(f"ramp_rate must be a finite number >= 0, not {rate}")
        if rate == 0 and self.limits.ramp_required:
            raise LimitError("ramp_rate 0 (jump) is not allowed on a high-voltage channel")
        if rate > self.limits.ramp_rate_max:
            raise LimitError(f"ramp_rate {rate:g} V/s is above the limit ramp_rate_max = {self.limits.ramp_rate_max:g} V/s")
        return float(rate)

    def _write_level(self, volts: float) -> None:
        self.call(self.driver.set_voltage, self.channel, volts)
        self._level = volts

    def _start_ramp(self, off_after: bool, to: float | None = None) -> None:
        if to is not None:
            self._target_for_ramp = to
        else:
            self._target_for_ramp = self._target
        self._off_after_ramp = off_after
        self._ramping = True
        self._ramp_time = time.monotonic()
        if self._ramp_rate == 0:
            self._write_level(self._target_for_ramp)

    def _ramp_step(self) -> None:
        now = time.monotonic()
        dt, self._ramp_time = now - self._ramp_time, now
        goal = self._target_for_ramp
        if self._ramp_rate > 0 and self._level != goal:
            step = self._ramp_rate * dt
            level = goal if abs(goal - self._level) <= step else self._level + math.copysign(step, goal - self._level)
            self._write_level(level)
        if self._level == goal:
            self._ramping = False
            self._settle_until = time.monotonic() + SETTLE_MAX_S
            if self._off_after_ramp:
                self._off_after_ramp = False
                self.call(self.driver.set_output, self.channel, False)

    # -------------------------------------------------------- polling hooks
    def disconnect(self) -> None:
        self._ramping = False  # a ramp does not survive a lost link

    def connect(self) -> None:
        self.driver.verify()
        stale = self.driver.drain_errors()
        if stale:
            log.info("%s: cleared stale instrument errors %s", self.name, stale)

    def busy_period(self) -> float | None:
        return RAMP_TICK_S if self._ramping or time.monotonic() < self._settle_until else None

    def poll(self) -> None:
        reading = self.driver.read_channel(self.channel)
        self._last = reading
        if self._target is None:  # first read after start: adopt the instrument's state
            self._target = reading.voltage_setpoint
        if not self._ramping:
            self._level = reading.voltage_setpoint
        if reading.tripped and not self._trip_latched:
            self._trip_latched = True
            self._trip = Trip(time.time(), reading.voltage, reading.current)
            log.warning("%s: tripped at %.4g V, %.4g A: ramping down", self.name, reading.voltage, reading.current)
            if reading.output:
                try:
                    if self._ramp_rate > 0:
                        self._start_ramp(off_after=True, to=0.0)
                    else:
                        self.call(self.driver.set_output, self.channel, False)
                except CommandRefused:
                    return
        if self._ramping:
            try:
                self._ramp_step()
            except CommandRefused:
                return

    def observe(self) -> ChannelStatus:
        now = time.time()
        with self.lock:
            reading = self._last
            if not self.connected:
                return ChannelStatus(
                    ChannelState.FAULT,
                    f"instrument unreachable: {self.fault}; retrying every {self.retry_period:.1f} s",
                    now,
                    voltage_setpoint=self._target or 0.0,
                    ramp_rate=self._ramp_rate,
                    last_trip=self._trip,
                )
            if self._trip_latched:
                state = ChannelState.ALARM
                text = "tripped"
                if self._trip is not None:
                    text += f" at {self._trip.voltage:.4g} V / {self._trip.current:.4g} A"
                text += "; ramping down" if self._ramping else "; output off, Reset to clear"
            elif self._ramping:
                state = ChannelState.MOVING
                text = f"ramping to {self._target_for_ramp:g} V at {self._ramp_rate:g} V/s"
                if self._off_after_ramp:
                    text += ", then output off"
            elif reading.output and self._settling(reading):
                state, text = ChannelState.MOVING, f"settling at {self._level:g} V"
            elif reading.output:
                state, text = ChannelState.ON, f"output on at {reading.voltage_setpoint:g} V"
            else:
                state, text = ChannelState.OFF, "output off"
            return ChannelStatus(
                state,
                text,
                now,
                voltage=reading.voltage,
                current=reading.current,
                output=reading.output,
                tripped=self._trip_latched,
                voltage_setpoint=self._target if self._target is not None else reading.voltage_setpoint,
                source_level=self._level,
                current_limit=reading.current_limit,
                ramp_rate=self._ramp_rate,
                last_trip=self._trip,
            )

    def _settling(self, reading: ChannelReadback) -> bool:
        if time.monotonic() > self._settle_until:
            return False
        return abs(reading.voltage - self._level) > settled_tolerance(self._level)
