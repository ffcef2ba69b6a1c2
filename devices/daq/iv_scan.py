"""An IV scan of a sensor's bias channel (no Tango): steps, settling, stops, ramp-down, CSV.

Per step (as Pisa's measure_iv_curve.py does, research ph2acf.md §4.3): set
the voltage, wait until the channel is at it (within ``v_tolerance``),
settle, average ``samples`` current readings, take the box temperature and
humidity. The scan stops at compliance (|I| >= 95 % of the compliance or
the channel tripped), at breakdown (the current jumps by
``breakdown_factor`` from one step to the next, above ``breakdown_floor_a``),
on abort, or when the channel goes off by itself (an interlock trip). Whatever
happens, it ramps down to ``ramp_down_to`` and, by default, switches off.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

log = logging.getLogger(__name__)

# Pisa's scan types (research §4.3), 10 V steps; the polarity comes from the device
PRESETS = {
    "quick_test": {"v_stop": 30.0},
    "before_encapsulation": {"v_stop": 350.0},
    "after_encapsulation": {"v_stop": 800.0},
}


class IvSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scan_type: str = "custom"
    module: str = ""
    comment: str = Field(default="", max_length=500)
    v_start: float = Field(default=0.0, ge=0, le=1100, description="|V| of the first point")
    v_stop: float = Field(default=300.0, gt=0, le=1100, description="|V| of the last point")
    v_step: float = Field(default=10.0, gt=0, le=200)
    settle_s: float = Field(default=1.0, ge=0, le=600)
    samples: int = Field(default=3, ge=1, le=100)
    compliance_a: float = Field(default=1e-5, gt=0, le=1.0)
    v_tolerance: float = Field(default=0.5, gt=0, le=50)
    ramp_down_to: float = Field(default=0.0, ge=0, le=1100)
    switch_off: bool = True
    breakdown_factor: float = Field(default=2.0, gt=1, le=1000)
    breakdown_floor_a: float = Field(default=1e-7, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> IvSettings:
        if self.v_start > self.v_stop:
            raise ValueError(f"v_start {self.v_start:g} V is above v_stop {self.v_stop:g} V")
        if (self.v_stop - self.v_start) / self.v_step > 1000:
            raise ValueError("more than 1000 steps: take a larger v_step")
        return self

    def voltages(self) -> list[float]:
        n = int(round((self.v_stop - self.v_start) / self.v_step))
        points = [self.v_start + i * self.v_step for i in range(n + 1)]
        if points[-1] < self.v_stop - 1e-9:
            points.append(self.v_stop)
        return [round(min(v, self.v_stop), 6) for v in points]


def parse_request(text: str, defaults: dict, max_voltage: float) -> IvSettings:
    """A preset name (``after_encapsulation``) or a JSON object of IvSettings keys (``preset`` too);
    raise ValueError naming what is wrong."""
    text = text.strip()
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"the scan request is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError("the scan request is a JSON object")
    else:
        raw = {"preset": text}
    preset = raw.pop("preset", None)
    merged = dict(defaults)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown IV scan preset {preset!r} (known: {', '.join(PRESETS)})")
        merged.update(PRESETS[preset], scan_type=preset)
    merged.update(raw)
    try:
        settings = IvSettings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        raise ValueError(f"IV scan {where}: {first['msg']}") from None
    if settings.v_stop > max_voltage:
        raise ValueError(f"IV scan v_stop {settings.v_stop:g} V is above the limit max_voltage = {max_voltage:g} V")
    return settings


class HvChannel(Protocol):
    """What the scan needs of a bias channel (the Tango adapter maps it to a PowerSupplyChannel)."""

    def prepare(self, compliance_a: float) -> float | None: ...  # set the compliance; return the one before

    def restore(self, compliance_a: float) -> None: ...  # put the compliance back after the scan

    def set_voltage(self, volts: float) -> None: ...

    def on(self) -> None: ...

    def off(self) -> None: ...

    def read(self) -> tuple[float, float, str, bool]: ...  # voltage, current, state name, tripped


@dataclass
class IvPoint:
    voltage: float
    current: float
    current_std: float
    temperature: float | None
    humidity: float | None
    time: float


@dataclass
class IvResult:
    status: str = "running"  # completed, compliance, breakdown, aborted, failed
    reason: str = ""
    points: list[IvPoint] = field(default_factory=list)
    breakdown_v: float | None = None


class IvScan:
    def __init__(self, channel: HvChannel, settings: IvSettings, polarity: float,
                 conditions: Callable[[], tuple[float | None, float | None]],
                 on_point: Callable[[IvResult], None] = lambda r: None, poll_s: float = 0.2,
                 step_timeout_s: float = 120.0):
        self.channel, self.settings, self.polarity = channel, settings, 1.0 if polarity >= 0 else -1.0
        self.conditions, self.on_point = conditions, on_point
        self.poll_s, self.step_timeout_s = poll_s, step_timeout_s
        self.result = IvResult()
        self._abort = threading.Event()
        self.abort_reason = ""

    def abort(self, reason: str) -> None:
        self.abort_reason = self.abort_reason or reason
        self._abort.set()

    def run(self) -> IvResult:
        s = self.settings
        self._previous_limit = None
        try:
            self._previous_limit = self.channel.prepare(s.compliance_a)
            self.channel.set_voltage(self.polarity * s.v_start)
            self.channel.on()
            self._switched_on()
            for target in s.voltages():
                if self._stopped():
                    break
                self.channel.set_voltage(self.polarity * target)
                if not self._reach(self.polarity * target):
                    break
                if not self._wait(s.settle_s):
                    break
                point = self._measure()
                if point is None:
                    break
                self.result.points.append(point)
                self.on_point(self.result)
                if self._limits(point):
                    break
            else:
                self.result.status, self.result.reason = "completed", f"reached {s.v_stop:g} V"
        except Exception as exc:  # a refused On, a lost channel: the scan fails, the ramp-down still runs
            self.result.status, self.result.reason = "failed", str(exc)
        finally:
            self._ramp_down()
        if self.result.status == "running":
            self.result.status = "aborted"
        self.on_point(self.result)
        return self.result

    def _switched_on(self) -> None:
        """On is asynchronous (the channel reports it at its next poll): wait until it does."""
        deadline = time.monotonic() + self.step_timeout_s
        while True:
            _, _, state, tripped = self.channel.read()
            if state in ("ON", "MOVING") and not tripped:
                return
            if tripped or state in ("ALARM", "FAULT") or time.monotonic() > deadline:
                raise RuntimeError(f"the bias channel did not switch on (it is {state})")
            self._abort.wait(self.poll_s)

    def _stopped(self) -> bool:
        if self._abort.is_set():
            self.result.status, self.result.reason = "aborted", self.abort_reason
            return True
        return False

    def _wait(self, seconds: float) -> bool:
        if self._abort.wait(seconds):
            return not self._stopped()
        return self._channel_ok()

    def _channel_ok(self) -> bool:
        _, _, state, tripped = self.channel.read()
        if tripped or state == "ALARM":
            self.result.status, self.result.reason = "compliance", "the channel tripped at compliance"
            return False
        if state in ("OFF", "FAULT", "UNREACHABLE"):
            self.result.status = "aborted"
            self.result.reason = self.abort_reason or f"the bias channel went {state} during the scan"
            return False
        return True

    def _reach(self, volts: float) -> bool:
        deadline = time.monotonic() + self.step_timeout_s
        while True:
            if self._stopped() or not self._channel_ok():
                return False
            voltage, _, state, _ = self.channel.read()
            if state == "ON" and abs(voltage - volts) <= self.settings.v_tolerance:
                return True
            if time.monotonic() > deadline:
                self.result.status = "failed"
                self.result.reason = f"the channel did not reach {volts:g} V in {self.step_timeout_s:g} s " \
                                     f"(at {voltage:g} V, {state})"
                return False
            self._abort.wait(self.poll_s)

    def _measure(self) -> IvPoint | None:
        currents, voltages = [], []
        for i in range(self.settings.samples):
            if i and not self._wait(self.poll_s):
                return None
            voltage, current, _, _ = self.channel.read()
            voltages.append(voltage)
            currents.append(current)
        temperature, humidity = self.conditions()
        return IvPoint(statistics.fmean(voltages), statistics.fmean(currents),
                       statistics.pstdev(currents) if len(currents) > 1 else 0.0, temperature, humidity, time.time())

    def _limits(self, point: IvPoint) -> bool:
        s = self.settings
        if abs(point.current) >= 0.95 * s.compliance_a:
            self.result.status = "compliance"
            self.result.reason = f"{abs(point.current):.3g} A at {abs(point.voltage):.1f} V reached 95 % of " \
                                 f"the compliance {s.compliance_a:g} A"
            return True
        points = self.result.points
        if len(points) >= 2:
            before = abs(points[-2].current)
            now = abs(point.current)
            if now > s.breakdown_floor_a and before > 0 and now > s.breakdown_factor * before:
                self.result.status, self.result.breakdown_v = "breakdown", abs(point.voltage)
                self.result.reason = f"breakdown at {abs(point.voltage):.1f} V: the current rose from " \
                                     f"{before:.3g} A to {now:.3g} A in one step"
                return True
        return False

    def _ramp_down(self) -> None:
        """Always: down to ramp_down_to, and off when asked (never just off at high voltage).
        A tripped channel ramps itself down and opens: it is only told Off."""
        problems = []
        try:
            _, _, state, tripped = self.channel.read()
            if state in ("ON", "MOVING") and not tripped:
                self.channel.set_voltage(self.polarity * self.settings.ramp_down_to)
                deadline = time.monotonic() + self.step_timeout_s * 3
                while time.monotonic() < deadline:
                    voltage, _, state, _ = self.channel.read()
                    if state not in ("ON", "MOVING") or (state == "ON" and abs(voltage) <= self.settings.ramp_down_to
                                                         + self.settings.v_tolerance):
                        break
                    time.sleep(self.poll_s)
        except Exception as exc:
            problems.append(str(exc))
        if self.settings.switch_off:
            try:
                self.channel.off()  # the channel's own Off ramps down at its ramp rate before it opens
            except Exception as exc:
                problems.append(str(exc))
        if self._previous_limit is not None:  # the channel's own compliance again, for whoever biases it next
            try:
                self.channel.restore(self._previous_limit)
            except Exception as exc:  # e.g. an instrument default above the channel's limit: the scan's stays
                log.warning("IV scan: the compliance before the scan (%g A) was not put back: %s",
                            self._previous_limit, exc)
        if problems:
            self.result.reason += f"; ramp-down: {'; '.join(problems)}"


def central_db_csv(result: IvResult, settings: IvSettings, location: str, inserter: str, started: float) -> str:
    """The CMS tracker central database's IV_TEST CSV (the layout of Pisa's uploads, research §4.3)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started))
    for key, value in (("NameLabel", settings.module), ("Date", stamp),
                       ("Comment", f"{settings.scan_type} measurement" + (f": {settings.comment}" if settings.comment else "")),
                       ("Location", location), ("Inserter", inserter), ("RunType", "IV_TEST")):
        writer.writerow([f"#{key}", value])
    writer.writerow([])
    temps = [p.temperature for p in result.points if p.temperature is not None]
    rhs = [p.humidity for p in result.points if p.humidity is not None]
    writer.writerow(["STATION", "AV_TEMP_DEGC", "AV_RH_PRCNT"])
    writer.writerow([location, f"{statistics.fmean(temps):.2f}" if temps else "",
                     f"{statistics.fmean(rhs):.3f}" if rhs else ""])
    writer.writerow([])
    writer.writerow(["VOLTS", "CURRNT_NAMP", "TEMP_DEGC", "RH_PRCNT", "TIME"])
    for p in result.points:
        writer.writerow([f"{p.voltage:.2f}", f"{p.current * 1e9:.1f}",
                         "" if p.temperature is None else f"{p.temperature:.1f}",
                         "" if p.humidity is None else f"{p.humidity:.3f}",
                         time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(p.time))])
    return out.getvalue()
