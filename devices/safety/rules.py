"""Interlock rules as data: parsed from plain dicts (the station file), evaluated without Tango.

A rule has a condition, a debounce (N consecutive readings), and actions
(Tango commands on other devices). Conditions::

    {attribute: dom/fam/mem/attr, below: x}          # or above: x
    {difference: [dom/fam/mem/a, dom/fam/mem/b], below: x}
    {state: dom/fam/mem, in: [FAULT, UNREACHABLE]}    # or not_in: [...]
    {all: [cond, ...]}  /  {any: [cond, ...]}

An attribute whose quality is INVALID (stale, stuck, unreachable) makes a
threshold unsafe. A reading is one Tango timestamp: the events of one sensor
poll (temperature, dew point, ...) count once. A tripped rule stays latched
until it is acknowledged and its condition is clear. Nothing here is eval'd.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

STATE_NAMES = {"ON", "OFF", "CLOSE", "OPEN", "INSERT", "EXTRACT", "MOVING", "STANDBY", "FAULT", "INIT", "RUNNING",
               "ALARM", "DISABLE", "UNKNOWN", "UNREACHABLE"}


class RuleError(ValueError):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Sample:
    value: object  # number for attributes, state name for states
    valid: bool
    time: float  # the Tango timestamp of the reading


def _split_attribute(path: str, text) -> tuple[str, str]:
    if not isinstance(text, str) or text.count("/") != 3:
        raise RuleError(path, f"expected an attribute as domain/family/member/attribute, got {text!r}")
    device, _, attribute = text.rpartition("/")
    return device.lower(), attribute


def _device(path: str, text) -> str:
    if not isinstance(text, str) or text.count("/") != 2:
        raise RuleError(path, f"expected a device as domain/family/member, got {text!r}")
    return text.lower()


def _number(path: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RuleError(path, f"expected a number, got {value!r}")
    if not math.isfinite(value):  # a NaN threshold compares false: the rule could never trip
        raise RuleError(path, f"expected a finite number, got {value!r}")
    return float(value)


class Condition:
    def inputs(self) -> set[tuple[str, str]]:
        """('attr', 'dev/attr') and ('state', 'dev') keys this condition reads."""
        raise NotImplementedError

    def holds(self, samples: dict, invalid: bool = True) -> bool:
        """Whether the condition is true now; ``invalid`` is the answer for an INVALID reading
        (True for a rule: unknown is unsafe; False for a permit: unknown is not a permission)."""
        raise NotImplementedError

    def describe(self, samples: dict) -> str:
        """What the condition asks for and what is there now, for people."""
        return f"{self} with {self.values(samples)}"

    def values(self, samples: dict) -> dict:
        return {f"{kind}:{name}": (samples[(kind, name)].value if (kind, name) in samples else None)
                for kind, name in sorted(self.inputs())}


@dataclass(frozen=True)
class Threshold(Condition):
    attribute: str  # dev/attr
    below: float | None
    above: float | None

    def inputs(self):
        return {("attr", self.attribute)}

    def holds(self, samples, invalid=True):
        sample = samples.get(("attr", self.attribute))
        if sample is None or not sample.valid or not isinstance(sample.value, (int, float)):
            return invalid
        return _outside(sample.value, self.below, self.above)

    def describe(self, samples):
        sample = samples.get(("attr", self.attribute))
        now = "no valid reading" if sample is None or not sample.valid else f"{sample.value:g}"
        bounds = " and ".join(f"{k} {v:g}" for k, v in (("below", self.below), ("above", self.above)) if v is not None)
        return f"{self.attribute} is {now}, condition: {bounds}"


@dataclass(frozen=True)
class Difference(Condition):
    minuend: str
    subtrahend: str
    below: float | None
    above: float | None

    def inputs(self):
        return {("attr", self.minuend), ("attr", self.subtrahend)}

    def holds(self, samples, invalid=True):
        a, b = samples.get(("attr", self.minuend)), samples.get(("attr", self.subtrahend))
        if a is None or b is None or not (a.valid and b.valid):
            return invalid
        return _outside(a.value - b.value, self.below, self.above)


@dataclass(frozen=True)
class StateIn(Condition):
    device: str
    states: frozenset[str]
    negate: bool = False

    def inputs(self):
        return {("state", self.device)}

    def holds(self, samples, invalid=True):
        sample = samples.get(("state", self.device))
        if sample is None or not sample.valid:
            return invalid  # never read, unreachable or silent: unknown
        return (sample.value in self.states) != self.negate

    def describe(self, samples):
        sample = samples.get(("state", self.device))
        now = sample.value if sample else "unknown"
        wanted = ("not " if self.negate else "") + "/".join(sorted(self.states))
        return f"{self.device} is {now}, needs {wanted}"


@dataclass(frozen=True)
class Combination(Condition):
    parts: tuple[Condition, ...]
    every: bool  # all (True) or any (False)

    def inputs(self):
        return set().union(*(p.inputs() for p in self.parts))

    def holds(self, samples, invalid=True):
        results = (p.holds(samples, invalid) for p in self.parts)
        return all(results) if self.every else any(results)


def _outside(value: float, below: float | None, above: float | None) -> bool:
    return (below is not None and value < below) or (above is not None and value > above)


def parse_condition(data, path: str = "when") -> Condition:
    if not isinstance(data, dict) or not data:
        raise RuleError(path, "a condition is a mapping: attribute/difference/state/all/any")
    keys = set(data)
    if keys & {"all", "any"}:
        kind = "all" if "all" in data else "any"
        if keys != {kind} or not isinstance(data[kind], list) or not data[kind]:
            raise RuleError(path, f"'{kind}' takes a non-empty list of conditions and nothing else")
        return Combination(tuple(parse_condition(c, f"{path}.{kind}[{i}]") for i, c in enumerate(data[kind])),
                           kind == "all")
    if "state" in keys:
        unknown = keys - {"state", "in", "not_in"}
        if unknown or len(keys & {"in", "not_in"}) != 1:
            raise RuleError(path, "a state condition is {state: device, in: [...]} or {state: device, not_in: [...]}")
        negate = "not_in" in data
        states = data["not_in" if negate else "in"]
        if not isinstance(states, list) or not states:
            raise RuleError(path, "'in' / 'not_in' takes a non-empty list of states")
        # YAML 1.1 reads unquoted ON / OFF as booleans: take them back as the states they were meant to be
        states = ["ON" if s is True else "OFF" if s is False else s for s in states]
        bad = [s for s in states if not isinstance(s, str) or s.upper() not in STATE_NAMES]
        if bad:
            raise RuleError(path, f"unknown Tango state(s) {bad} (known: {', '.join(sorted(STATE_NAMES))})")
        return StateIn(_device(f"{path}.state", data["state"]), frozenset(s.upper() for s in states), negate)
    bounds = {k: _number(f"{path}.{k}", data[k]) for k in ("below", "above") if k in data}
    if not bounds:
        raise RuleError(path, "a threshold needs 'below' and/or 'above'")
    if "attribute" in keys:
        if keys - {"attribute", "below", "above"}:
            raise RuleError(path, f"unknown keys {sorted(keys - {'attribute', 'below', 'above'})}")
        attribute = "/".join(_split_attribute(f"{path}.attribute", data["attribute"]))
        return Threshold(attribute, bounds.get("below"), bounds.get("above"))
    if "difference" in keys:
        pair = data["difference"]
        if keys - {"difference", "below", "above"} or not isinstance(pair, list) or len(pair) != 2:
            raise RuleError(path, "a difference is {difference: [a, b], below/above: x} (a - b)")
        a = "/".join(_split_attribute(f"{path}.difference[0]", pair[0]))
        b = "/".join(_split_attribute(f"{path}.difference[1]", pair[1]))
        return Difference(a, b, bounds.get("below"), bounds.get("above"))
    raise RuleError(path, f"unknown condition keys {sorted(keys)} (use attribute, difference, state, all, any)")


@dataclass(frozen=True)
class Action:
    device: str
    command: str


@dataclass(frozen=True)
class Rule:
    name: str
    condition: Condition
    readings: int
    actions: tuple[Action, ...]
    description: str = ""


@dataclass(frozen=True)
class Permit:
    device: str
    command: str
    requires: tuple[Condition, ...]  # each must hold (an INVALID reading does not)
    clear_rules: tuple[str, ...]


def parse_rules(data, interlock_device: str | None = None) -> tuple[list[Rule], list[Permit]]:
    """Parse the station file's ``safety`` section (rules and permits); raise RuleError naming the key."""
    if not isinstance(data, dict):
        raise RuleError("safety", "expected a mapping with rules and permits")
    rules, permits, names = [], [], set()
    for i, raw in enumerate(data.get("rules") or []):
        path = f"safety.rules[{i}]"
        if not isinstance(raw, dict):
            raise RuleError(path, "a rule is a mapping: name, when, readings, actions")
        unknown = set(raw) - {"name", "when", "readings", "actions", "description"}
        if unknown:
            raise RuleError(path, f"unknown keys {sorted(unknown)}")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise RuleError(f"{path}.name", "every rule needs a name")
        if name in names:
            raise RuleError(f"{path}.name", f"duplicate rule name {name!r}")
        names.add(name)
        condition = parse_condition(raw.get("when"), f"{path}.when")
        readings = raw.get("readings", 1)
        if isinstance(readings, bool) or not isinstance(readings, int) or readings < 1:
            raise RuleError(f"{path}.readings", f"expected a whole number >= 1, got {readings!r}")
        actions = []
        for j, action in enumerate(raw.get("actions") or []):
            where = f"{path}.actions[{j}]"
            if not isinstance(action, dict) or set(action) != {"device", "command"}:
                raise RuleError(where, "an action is {device: dom/fam/mem, command: Name}")
            target = _device(f"{where}.device", action["device"])
            if not isinstance(action["command"], str) or not action["command"].isidentifier():
                raise RuleError(f"{where}.command", f"not a command name: {action['command']!r}")
            if interlock_device and target == interlock_device.lower():
                raise RuleError(f"{where}.device", "circular action: a rule cannot command the interlock itself")
            actions.append(Action(target, action["command"]))
        if not actions:
            raise RuleError(f"{path}.actions", "a rule needs at least one action")
        rules.append(Rule(name, condition, readings, tuple(actions), str(raw.get("description", ""))))
    _check_cycles(rules)
    for i, raw in enumerate(data.get("permits") or []):
        path = f"safety.permits[{i}]"
        if not isinstance(raw, dict) or set(raw) - {"device", "command", "requires", "rules_clear"}:
            raise RuleError(path, "a permit is {device, command, requires: [conditions], rules_clear: [names]}")
        requires = tuple(parse_condition(c, f"{path}.requires[{j}]") for j, c in enumerate(raw.get("requires") or []))
        clear = raw.get("rules_clear") or []
        if not isinstance(clear, list):
            raise RuleError(f"{path}.rules_clear", f"a list of rule names, not {clear!r}")
        clear = tuple(clear)
        for j, name in enumerate(clear):
            if not isinstance(name, str):
                raise RuleError(f"{path}.rules_clear[{j}]", f"a rule name, not {name!r}")
            if name not in names:
                raise RuleError(f"{path}.rules_clear", f"unknown rule {name!r}")
        permits.append(Permit(_device(f"{path}.device", raw.get("device")), str(raw.get("command")), requires, clear))
    return rules, permits


def _reads(rule: Rule) -> set[str]:
    return {name if kind == "state" else name.rpartition("/")[0] for kind, name in rule.condition.inputs()}


def _check_cycles(rules: list[Rule]) -> None:
    """A rule whose action changes what another rule reads, whose action changes what the first
    reads (directly or through more rules), is circular. Acting on what a rule itself reads
    (switch off the HV it watches) is not: the action moves it to a safe state."""
    edges = {r.name: {o.name for o in rules if o is not r and {a.device for a in r.actions} & _reads(o)}
             for r in rules}

    def visit(name: str, trail: list[str]) -> None:
        for nxt in sorted(edges[name]):
            if nxt in trail:
                cycle = trail[trail.index(nxt):] + [nxt]
                index = next(i for i, r in enumerate(rules) if r.name == cycle[0])
                raise RuleError(f"safety.rules[{index}].actions", "circular actions: " + " -> ".join(cycle))
            visit(nxt, trail + [nxt])

    for rule in rules:
        visit(rule.name, [rule.name])


@dataclass
class RuleState:
    rule: Rule
    count: int = 0  # consecutive unsafe readings, this one included
    count_before: int = 0  # the count at the end of the previous reading
    last_stamp: float | None = None
    unsafe: bool = False
    latched: bool = False
    acknowledged: bool = False
    tripped_at: float | None = None
    trip_values: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.latched:
            return "TRIPPED" + (" (acknowledged)" if self.acknowledged else "")
        return "UNSAFE" if self.unsafe else "OK"


@dataclass(frozen=True)
class Trip:
    rule: str
    time: float  # when the tripping reading was stamped
    values: dict
    actions: tuple[Action, ...]


class Engine:
    def __init__(self, rules: list[Rule], permits: list[Permit], grace_period_s: float = 0.0,
                 clock: Callable[[], float] = time.time):
        self.rules = {r.name: RuleState(r) for r in rules}
        self.permits = permits
        self.clock = clock
        self.armed_at = clock() + grace_period_s
        self.samples: dict[tuple[str, str], Sample] = {}
        self._by_input: dict[tuple[str, str], list[RuleState]] = {}
        for state in self.rules.values():
            for key in state.rule.condition.inputs():
                self._by_input.setdefault(key, []).append(state)

    def inputs(self) -> set[tuple[str, str]]:
        keys = set(self._by_input)
        for permit in self.permits:
            for condition in permit.requires:
                keys |= condition.inputs()
        return keys

    @property
    def in_grace(self) -> bool:
        return self.clock() < self.armed_at

    def update(self, key: tuple[str, str], sample: Sample) -> list[Trip]:
        """A new reading of one input; return the rules that trip now."""
        self.samples[key] = sample
        trips = []
        for state in self._by_input.get(key, ()):
            if sample.time != state.last_stamp:  # a new reading (the events of one poll share a stamp)
                state.last_stamp = sample.time
                state.count_before = state.count
            state.unsafe = state.rule.condition.holds(self.samples)
            state.count = state.count_before + 1 if state.unsafe else 0
            if state.unsafe and state.count >= state.rule.readings and not state.latched and not self.in_grace:
                state.latched, state.acknowledged = True, False
                state.tripped_at = sample.time
                state.trip_values = state.rule.condition.values(self.samples)
                trips.append(Trip(state.rule.name, sample.time, state.trip_values, state.rule.actions))
        return trips

    def restore(self, name: str, acknowledged: bool, values: dict, tripped_at: float | None) -> None:
        """Latch a rule again from the alarm record after a restart (no trip, no action)."""
        state = self._state(name)
        state.latched, state.acknowledged = True, acknowledged
        state.trip_values, state.tripped_at = values, tripped_at

    def acknowledge(self, name: str) -> None:
        self._state(name).acknowledged = True

    def reset(self, name: str) -> None:
        state = self._state(name)
        if not state.latched:
            return
        if not state.acknowledged:
            raise ValueError(f"rule {name!r} is not acknowledged yet")
        if state.rule.condition.holds(self.samples):
            raise ValueError(f"rule {name!r} cannot be reset: its condition is still unsafe {state.rule.condition.values(self.samples)}")
        state.latched = False
        state.count = 0

    def _state(self, name: str) -> RuleState:
        if name not in self.rules:
            raise ValueError(f"unknown rule {name!r} (rules: {', '.join(self.rules)})")
        return self.rules[name]

    def permit(self, device: str, command: str) -> str | None:
        """None when allowed, else why not."""
        for permit in self.permits:
            if permit.device != device.lower() or permit.command.lower() != command.lower():
                continue
            for condition in permit.requires:
                missing = [k for k in condition.inputs() if k not in self.samples]
                if missing:
                    return f"{command} refused: no reading yet of {', '.join(f'{k[1]}' for k in sorted(missing))}"
                if not condition.holds(self.samples, invalid=False):
                    return f"{command} refused: {condition.describe(self.samples)}"
            for name in permit.clear_rules:
                state = self.rules[name]
                if state.latched or state.unsafe:
                    return f"{command} refused: interlock rule {name!r} is {state.label}"
        return None

    @property
    def latched(self) -> list[str]:
        return [name for name, state in self.rules.items() if state.latched]
