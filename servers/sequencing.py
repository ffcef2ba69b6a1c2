"""`trackerdcs power`: the station file's modules, sequenced by devices/safety/sequence.py."""

from __future__ import annotations

from db.config.station import LoadedStation
from devices.safety.module import Module
from devices.safety.sequence import Sequence, SequenceFailed

__all__ = ["Sequence", "SequenceFailed", "find_module"]


def find_module(station: LoadedStation, name: str) -> Module:
    for module in station.station.modules:
        if module.name == name:
            return module
    known = ", ".join(m.name for m in station.station.modules) or "none defined"
    raise ValueError(f"unknown module {name!r} (modules: {known})")
