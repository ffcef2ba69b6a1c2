"""Power sequencing of a module: LV on -> LV stable -> HV ramp up; the reverse for off.

Every step waits on the observed state with a timeout; the first failure
stops the sequence and says where it stopped. The interlock's permit is
asked by the HV device itself, so a refused HV On is reported with its reason.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import tango

from devices.safety.module import Module

POLL_S = 0.25  # how often a step looks at the device it waits on (a hundred sequences at once: 400 reads/s)


class SequenceFailed(RuntimeError):
    def __init__(self, step: str, reason: str, done: list[str]):
        super().__init__(f"stopped at '{step}': {reason}")
        self.step, self.reason, self.done = step, reason, done


@dataclass
class Sequence:
    module: Module
    tango_host: str | None = None  # None: the process's TANGO_HOST
    report: Callable[[str], None] = print
    hv_volts: float | None = None
    done: list[str] = field(default_factory=list)

    def proxy(self, name: str) -> tango.DeviceProxy:
        device = tango.DeviceProxy(f"tango://{self.tango_host}/{name}" if self.tango_host else name)
        device.set_timeout_millis(5000)
        return device

    def step(self, text: str, action: Callable[[], None]) -> None:
        self.report(f"-> {text}")
        try:
            action()
        except tango.DevFailed as exc:
            raise SequenceFailed(text, exc.args[0].desc.strip(), self.done) from None
        except TimeoutError as exc:
            raise SequenceFailed(text, str(exc), self.done) from None
        self.done.append(text)
        self.report(f"ok {text}")

    def wait(self, device: tango.DeviceProxy, test: Callable[[], bool], what: str, bad=(tango.DevState.FAULT,
                                                                                      tango.DevState.ALARM)) -> None:
        deadline = time.monotonic() + self.module.timeout_s
        while time.monotonic() < deadline:
            state = device.state()
            if state in bad:
                raise TimeoutError(f"{device.dev_name()} went {state}: {device.status()}")
            if test():
                return
            time.sleep(POLL_S)
        raise TimeoutError(f"{what} not reached within {self.module.timeout_s:g} s ({device.dev_name()}: {device.status()})")

    def lv_stable(self, lv: tango.DeviceProxy) -> None:
        tolerance, hold = self.module.lv_tolerance_v, self.module.lv_stable_s
        since = None
        deadline = time.monotonic() + self.module.timeout_s
        while time.monotonic() < deadline:
            if lv.state() != tango.DevState.ON:
                raise TimeoutError(f"{lv.dev_name()} is {lv.state()}: {lv.status()}")
            near = abs(lv.voltage - lv.voltage_setpoint) <= tolerance
            since = (since or time.monotonic()) if near else None
            if since is not None and time.monotonic() - since >= hold:
                return
            time.sleep(POLL_S)
        raise TimeoutError(f"{lv.dev_name()} not stable within {tolerance} V of its setpoint")

    def limits(self, name: str) -> dict[str, float]:
        """A channel's limits as the device has them: its database properties over the class defaults."""
        from devices.power_supply.device import PowerSupplyChannel

        defaults = PowerSupplyChannel.TangoClassClass.device_property_list
        names = ("voltage_min", "voltage_max", "current_limit_max")
        stored = self.proxy(name).get_property(list(names))
        return {key: float(stored[key][0]) if len(stored.get(key, ())) else float(defaults[key][2]) for key in names}

    def check(self) -> None:
        """Every setpoint power_on would write, against each channel's limits, before anything is switched:
        a refused HV setpoint must not leave the LV on. Raises ValueError naming the value."""
        checks = [(self.module.hv, "voltage", self.hv_volts)]
        checks += [(name, "voltage", self.module.lv_volts) for name in self.module.lv]
        checks += [(name, "current", self.module.lv_current_limit) for name in self.module.lv]
        for name, kind, value in checks:
            if value is None:
                continue
            what = "HV setpoint" if name == self.module.hv else ("LV setpoint" if kind == "voltage" else "LV current limit")
            if not math.isfinite(value):
                raise ValueError(f"{what} {value} is not a finite number")
            try:
                limits = self.limits(name)
            except tango.DevFailed as exc:
                raise ValueError(f"cannot read the limits of {name} ({exc.args[0].desc.strip().splitlines()[0]}); "
                                 "is the station up? Nothing was switched") from None
            if kind == "voltage" and not limits["voltage_min"] <= value <= limits["voltage_max"]:
                raise ValueError(f"{what} {value:g} V is outside [{limits['voltage_min']:g}, {limits['voltage_max']:g}] V, "
                                 f"the limits of {name}; nothing was switched")
            if kind == "current" and not 0 < value <= limits["current_limit_max"]:
                raise ValueError(f"{what} {value:g} A is outside (0, {limits['current_limit_max']:g}] A, the limit of {name}; "
                                 "nothing was switched")

    def power_on(self) -> None:
        for name in self.module.lv:
            lv = self.proxy(name)
            if self.module.lv_current_limit is not None:
                self.step(f"LV {name} current limit {self.module.lv_current_limit:g} A",
                          lambda lv=lv: lv.write_attribute("current_limit", self.module.lv_current_limit))
            if self.module.lv_volts is not None:
                self.step(f"LV {name} setpoint {self.module.lv_volts:g} V",
                          lambda lv=lv: lv.write_attribute("voltage_setpoint", self.module.lv_volts))
            self.step(f"LV {name} On", lv.On)
            self.step(f"LV {name} ON", lambda lv=lv: self.wait(lv, lambda: lv.state() == tango.DevState.ON, "ON"))
        for name in self.module.lv:
            lv = self.proxy(name)
            self.step(f"LV {name} stable", lambda lv=lv: self.lv_stable(lv))
        hv = self.proxy(self.module.hv)
        if self.hv_volts is not None:
            self.step(f"HV {self.module.hv} setpoint {self.hv_volts:g} V",
                      lambda: hv.write_attribute("voltage_setpoint", self.hv_volts))
        target = self.hv_volts if self.hv_volts is not None else hv.voltage_setpoint
        self.step(f"HV {self.module.hv} On (ramp to {target:g} V at {hv.ramp_rate:g} V/s)", hv.On)
        self.step(f"HV {self.module.hv} ramped up",
                  lambda: self.wait(hv, lambda: hv.state() == tango.DevState.ON, "ON"))

    def power_off(self) -> None:
        hv = self.proxy(self.module.hv)
        self.step(f"HV {self.module.hv} Off (ramp down)", hv.Off)
        self.step(f"HV {self.module.hv} OFF",
                  lambda: self.wait(hv, lambda: hv.state() == tango.DevState.OFF, "OFF", bad=(tango.DevState.FAULT,)))
        for name in self.module.lv:
            lv = self.proxy(name)
            self.step(f"LV {name} Off", lv.Off)
            self.step(f"LV {name} OFF", lambda lv=lv: self.wait(lv, lambda: lv.state() == tango.DevState.OFF, "OFF",
                                                                bad=(tango.DevState.FAULT,)))

