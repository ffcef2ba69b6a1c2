"""What a run device reads of the rest of the station through Tango: the interlock's permit,
the rule that tripped, and the DCS snapshot (every archived attribute and the interlock's rules)."""

from __future__ import annotations

import json
import time

import tango

from devices.daq.manager import Snapshot


def latched(rule_states) -> list[str]:
    """Names of the latched rules in the interlock's rule_states ('name: TRIPPED ...')."""
    return [entry.split(": ", 1)[0] for entry in rule_states or () if ": TRIPPED" in entry]


class StationView:
    def __init__(self, device: str, interlock: str, attributes: list[str], command: str = "Start"):
        self.device, self.interlock, self.attributes, self.command = device, interlock, attributes, command
        self.latched_before: set[str] = set()  # rules latched when the run began

    def _interlock(self) -> tango.DeviceProxy:
        proxy = tango.DeviceProxy(self.interlock)
        proxy.set_timeout_millis(2000)
        return proxy

    def permit(self) -> str:
        """Empty when the interlock allows the run's command, else why not (fail safe)."""
        if not self.interlock:
            return ""
        try:
            return self._interlock().command_inout("CheckPermit", [self.device, self.command])
        except tango.DevFailed as exc:
            return f"{self.command} refused: the interlock {self.interlock} cannot be asked ({exc.args[0].desc.strip()})"

    def tripped_since(self, since: float) -> str | None:
        if not self.interlock:
            return None
        try:
            proxy = self._interlock()
            trip = json.loads(proxy.read_attribute("last_trip").value or "{}")
            now_latched = latched(proxy.read_attribute("rule_states").value)
        except (tango.DevFailed, ValueError):
            return None
        if float(trip.get("time") or 0) >= since:
            return trip.get("rule")
        # an Abort action runs before the interlock records the trip: a rule latched since the run began
        new = [rule for rule in now_latched if rule not in self.latched_before]
        return new[0] if new else None

    def snapshot(self, before_run: bool) -> Snapshot:
        taken = time.time()
        by_device: dict[str, list[str]] = {}
        for full in self.attributes:
            device, _, name = full.rpartition("/")
            by_device.setdefault(device, []).append(name)
        values = {}
        for device, names in by_device.items():
            try:
                proxy = tango.DeviceProxy(device)
                proxy.set_timeout_millis(2000)
                replies = proxy.read_attributes(names)
            except tango.DevFailed as exc:
                for name in names:
                    values[f"{device}/{name}"] = {"v": None, "q": "UNREACHABLE", "t": None,
                                                  "error": exc.args[0].desc.strip()[:200]}
                continue
            for name, reply in zip(names, replies, strict=True):
                value = reply.value
                if hasattr(value, "tolist"):
                    value = value.tolist()
                values[f"{device}/{name}"] = {"v": value if not reply.has_failed else None, "q": str(reply.quality),
                                              "t": reply.time.totime() if reply.time else None}
        interlock = {}
        if self.interlock:
            try:
                proxy = self._interlock()
                rules = list(proxy.read_attribute("rule_states").value or ())
                interlock = {"device": self.interlock, "state": str(proxy.state()), "rules": rules,
                             "tripped": bool(proxy.read_attribute("tripped").value)}
                if before_run:
                    self.latched_before = set(latched(rules))
            except tango.DevFailed as exc:
                interlock = {"device": self.interlock, "state": "UNREACHABLE", "error": exc.args[0].desc.strip()[:200]}
        return Snapshot(taken, values, interlock)

    def read_number(self, attribute: str) -> float | None:
        """One attribute's value (dev/attr), None when unreadable or INVALID."""
        if not attribute:
            return None
        device, _, name = attribute.rpartition("/")
        try:
            proxy = tango.DeviceProxy(device)
            proxy.set_timeout_millis(2000)
            reply = proxy.read_attribute(name)
        except tango.DevFailed:
            return None
        if reply.quality == tango.AttrQuality.ATTR_INVALID or reply.value is None:
            return None
        return float(reply.value)
