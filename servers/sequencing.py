"""`trackerdcs power`: the station file's modules, sequenced by devices/safety/sequence.py."""

from __future__ import annotations

from db.station import LoadedStation
from devices.safety.sequence import Module, Sequence, SequenceFailed

__all__ = ["Sequence", "SequenceFailed", "find_module", "module_of"]


def module_of(config) -> Module:
    return Module(config.name, tuple(config.lv), config.hv, config.lv_stable_s, config.lv_tolerance_v, config.timeout_s,
                  config.lv_volts, config.lv_current_limit)


def find_module(station: LoadedStation, name: str) -> Module:
    for config in station.station.modules:
        if config.name == name:
            return module_of(config)
    known = ", ".join(m.name for m in station.station.modules) or "none defined"
    raise ValueError(f"unknown module {name!r} (modules: {known})")
