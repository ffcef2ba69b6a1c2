"""Station file -> Tango database: a dry-run diff, then an idempotent apply.

Managed: servers and their devices, device properties (those of the class,
plus ``polled_attr`` from attribute polling periods), attribute properties
(the keys of AttributeConfig). The devices a station registered are kept in
a free property, so ``--prune`` removes only devices this station created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tango

from db.classes import known_classes
from db.station import AttributeConfig, LoadedStation

OWNERSHIP_OBJECT = "trackerdcs"
MANAGED_ATTRIBUTE_KEYS = tuple(k for k in AttributeConfig.model_fields if k not in ("polling_period", "archive", "publish"))


@dataclass
class Change:
    sign: str  # + add, ~ change, - remove
    text: str
    run: Callable[[], None]

    def __str__(self) -> str:
        return f"{self.sign} {self.text}"


def to_strings(value) -> list[str]:
    values = value if isinstance(value, list) else [value]
    out = []
    for item in values:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, float):
            out.append(repr(item))
        else:
            out.append(str(item))
    return out


def _same(current: list[str], desired: list[str]) -> bool:
    if list(current) == desired:
        return True
    if len(current) != len(desired):
        return False
    for have, want in zip(current, desired):
        if have.lower() == want.lower():
            continue
        try:
            if float(have) != float(want):
                return False
        except ValueError:
            return False
    return True


def _ownership_key(station: str) -> str:
    return f"station.{station}.devices"


def owned_devices(db: tango.Database, station: str) -> list[str]:
    key = _ownership_key(station)
    return list(db.get_property(OWNERSHIP_OBJECT, [key])[key])


def plan(station: LoadedStation, db: tango.Database, prune: bool = False) -> list[Change]:
    changes: list[Change] = []
    classes = known_classes()
    desired_names = []
    for server, device in station.station.devices():
        name = device.name
        desired_names.append(name)
        changes += _device_changes(db, server.name, device.class_, name)
        info = classes.get(device.class_)
        managed = set(info.properties) if info else set()
        desired = {k: to_strings(v) for k, v in station.device_properties(device).items()}
        polled = []
        for attr, config in device.attributes.items():
            if config.polling_period:
                polled += [attr, str(config.polling_period)]
        managed.add("polled_attr")
        if polled:
            desired["polled_attr"] = polled
        changes += _property_changes(db, name, desired, managed)
        changes += _attribute_changes(db, name, device.attributes)
    owned = owned_devices(db, station.name)
    record = sorted(set(desired_names) | (set() if prune else set(owned)))
    if prune:
        for name in sorted(set(owned) - set(desired_names)):
            changes.append(Change("-", f"device {name} (left the station file)", _deleter(db, name)))
    if sorted(owned) != record:
        key = _ownership_key(station.name)
        changes.append(Change("~", f"record the station's devices ({len(record)})",
                              lambda: db.put_property(OWNERSHIP_OBJECT, {key: record})))
    return changes


def _device_changes(db: tango.Database, server: str, cls: str, name: str) -> list[Change]:
    try:
        info = db.get_device_info(name)
        current = (info.class_name, info.ds_full_name)
    except tango.DevFailed:
        current = None
    if current == (cls, server):
        return []

    def add() -> None:
        entry = tango.DbDevInfo()
        entry.name, entry._class, entry.server = name, cls, server
        db.add_device(entry)

    if current is None:
        return [Change("+", f"device {name} ({cls}) in server {server}", add)]
    return [Change("~", f"device {name}: {current[0]} in {current[1]} -> {cls} in {server}", add)]


def _property_changes(db, name: str, desired: dict[str, list[str]], managed: set[str]) -> list[Change]:
    changes = []
    present = set(db.get_device_property_list(name, "*")) if _exists(db, name) else set()
    current = db.get_device_property(name, sorted(present)) if present else {}
    for key, values in sorted(desired.items()):
        have = list(current.get(key, []))
        if key in present and _same(have, values):
            continue
        sign, before = ("~", f"{have} -> ") if key in present else ("+", "")
        changes.append(Change(sign, f"{name} property {key} = {before}{values}",
                              lambda key=key, values=values: db.put_device_property(name, {key: values})))
    for key in sorted((present & managed) - set(desired)):
        changes.append(Change("-", f"{name} property {key} (back to the class default)",
                              lambda key=key: db.delete_device_property(name, [key])))
    return changes


def _attribute_changes(db, name: str, attributes: dict[str, AttributeConfig]) -> list[Change]:
    changes = []
    current = db.get_device_attribute_property(name, list(attributes)) if attributes and _exists(db, name) else {}
    for attr, config in sorted(attributes.items()):
        desired = {k: to_strings(v) for k, v in config.model_dump(exclude_none=True).items() if k in MANAGED_ATTRIBUTE_KEYS}
        have = {k: list(v) for k, v in current.get(attr, {}).items()}
        for key, values in sorted(desired.items()):
            if key in have and _same(have[key], values):
                continue
            changes.append(Change("~" if key in have else "+", f"{name}/{attr} {key} = {values}",
                                  lambda attr=attr, key=key, values=values:
                                  db.put_device_attribute_property(name, {attr: {key: values}})))
        for key in sorted(set(have) & set(MANAGED_ATTRIBUTE_KEYS) - set(desired)):
            changes.append(Change("-", f"{name}/{attr} {key}",
                                  lambda attr=attr, key=key: db.delete_device_attribute_property(name, {attr: [key]})))
    return changes


def _exists(db, name: str) -> bool:
    try:
        db.get_device_info(name)
        return True
    except tango.DevFailed:
        return False


def _deleter(db, name: str) -> Callable[[], None]:
    def delete() -> None:
        server = db.get_device_info(name).ds_full_name
        db.delete_device(name)
        remaining = [d for d in db.get_device_class_list(server)[::2] if not d.startswith("dserver/")]
        if not remaining:
            db.delete_server(server)

    return delete


def apply(changes: list[Change]) -> None:
    for change in changes:
        change.run()
