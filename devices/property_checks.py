"""What makes a device's properties physically meaningful, per class, in one place.

``config check`` runs these on the station file (properties merged over the
class defaults), and each device runs the same check on its own properties
at start and goes to FAULT instead of running with, say, a NaN voltage limit
(any comparison with NaN is false, so a NaN limit would let every setpoint
through). No Tango here: the checks see plain dicts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

Problems = list[tuple[str, str]]  # (property, message)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(props: Mapping, problems: Problems) -> None:
    for name, value in props.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(_number(v) and not math.isfinite(v) for v in values):
            problems.append((name, f"{name} must be a finite number, not {value!r}"))


def _positive(props: Mapping, problems: Problems, *names: str) -> None:
    for name in names:
        value = props.get(name)
        if _number(value) and math.isfinite(value) and value <= 0:
            problems.append((name, f"{name} must be above 0, not {value:g}"))


def _not_negative(props: Mapping, problems: Problems, *names: str) -> None:
    for name in names:
        value = props.get(name)
        if _number(value) and math.isfinite(value) and value < 0:
            problems.append((name, f"{name} must not be negative, not {value:g}"))


def _ordered(props: Mapping, problems: Problems, low: str, high: str) -> None:
    lo, hi = props.get(low), props.get(high)
    if _number(lo) and _number(hi) and math.isfinite(lo) and math.isfinite(hi) and lo >= hi:
        relation = "is above" if lo > hi else "equals"
        problems.append((low, f"{low} = {lo} {relation} {high} = {hi}: the range is empty"))


def power_supply_channel(props: Mapping) -> Problems:
    problems: Problems = []
    _finite(props, problems)
    _ordered(props, problems, "voltage_min", "voltage_max")
    _positive(props, problems, "current_limit_max", "ramp_rate_max", "poll_period", "timeout", "channel")
    _not_negative(props, problems, "default_ramp_rate")
    rate, rate_max = props.get("default_ramp_rate"), props.get("ramp_rate_max")
    if _number(rate) and _number(rate_max) and math.isfinite(rate) and rate > rate_max > 0:
        problems.append(("default_ramp_rate", f"default_ramp_rate = {rate:g} is above ramp_rate_max = {rate_max:g}"))
    if props.get("ramp_required") is True and _number(rate) and rate == 0:
        problems.append(("default_ramp_rate", "ramp_required is true, so default_ramp_rate must be above 0 "
                                              "(0 means a step, which a channel that must ramp refuses)"))
    return problems


def environment_sensor(props: Mapping) -> Problems:
    problems: Problems = []
    _finite(props, problems)
    _positive(props, problems, "poll_period", "stale_after", "timeout")
    _not_negative(props, problems, "stuck_readings")
    period, stale = props.get("poll_period"), props.get("stale_after")
    if _number(period) and _number(stale) and 0 < stale <= period:
        problems.append(("stale_after", f"stale_after = {stale:g} s must be longer than poll_period = {period:g} s"))
    return problems


def chiller(props: Mapping) -> Problems:
    problems: Problems = []
    _finite(props, problems)
    _ordered(props, problems, "setpoint_min", "setpoint_max")
    _positive(props, problems, "poll_period", "timeout")
    return problems


def safety_interlock(props: Mapping) -> Problems:
    problems: Problems = []
    _finite(props, problems)
    _not_negative(props, problems, "grace_period")
    return problems


CHECKS: dict[str, Callable[[Mapping], Problems]] = {
    "PowerSupplyChannel": power_supply_channel,
    "EnvironmentSensor": environment_sensor,
    "Chiller": chiller,
    "SafetyInterlock": safety_interlock,
}


def property_problems(class_name: str, props: Mapping) -> Problems:
    check = CHECKS.get(class_name)
    return check(props) if check is not None else []


def refuse_bad_properties(class_name: str, props: Mapping) -> None:
    """For a device at start: raise ValueError naming every meaningless property."""
    problems = property_problems(class_name, props)
    if problems:
        raise ValueError("; ".join(message for _, message in problems))
