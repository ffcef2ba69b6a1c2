"""Station file -> Tango database: a dry-run diff, then an idempotent apply.

Managed: servers and their devices, device properties (those of the class,
plus ``polled_attr`` from attribute polling periods), attribute properties
(the keys of AttributeConfig). The devices a station registered are kept in
a free property, so ``--prune`` removes only devices this station created.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tango

from db.config.classes import known_classes
from db.config.station import AttributeConfig, LoadedStation

OWNERSHIP_OBJECT = "trackerdcs"
MANAGED_ATTRIBUTE_KEYS = tuple(k for k in AttributeConfig.model_fields if k not in ("polling_period", "archive", "publish"))


@dataclass
class Change:
    sign: str  # + add, ~ change, - remove
    text: str
    run: Callable[[], None]
    batch: tuple | None = None  # (put, device, {key: value}): apply puts one device's in one database call

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
    for device in station.station.external_devices:
        if device.server is not None:
            desired_names.append(device.name)
        changes += _external_changes(db, device, station.tango_host)
    starter_changes, starter_device = _starter_changes(station, db)
    changes += starter_changes
    if starter_device:
        desired_names.append(starter_device)
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


def _external_changes(db: tango.Database, device, tango_host: str) -> list[Change]:
    """A foreign device: registered when the file names its server; its attribute properties and
    polling written like ours, and also set on the running device (a server reads them only at start)."""
    name = device.name
    changes = _device_changes(db, device.server, device.class_, name) if device.server else []
    if not device.attributes:
        return changes
    if not changes and not _exists(db, name):
        return [Change("!", f"{name} is not in the Tango database: its attribute settings cannot be applied "
                            "(register it: external_devices[].server and class)", lambda: None)]
    for change in _attribute_changes(db, name, device.attributes):
        attr = change.text.split(" ", 1)[0].rsplit("/", 1)[1]
        changes.append(Change(change.sign, change.text, _then_live(change.run, f"tango://{tango_host}/{name}", attr,
                                                                   device.attributes[attr])))
    polled = {attr: config.polling_period for attr, config in device.attributes.items() if config.polling_period}
    current = _polled(db, name)
    for attr, period in sorted(polled.items()):
        if current.get(attr.lower()) != period:
            changes.append(Change("~" if attr.lower() in current else "+", f"{name}/{attr} polling every {period} ms",
                                  lambda attr=attr, period=period: _poll(db, name, f"tango://{tango_host}/{name}",
                                                                         attr, period)))
    return changes


def _polled(db: tango.Database, name: str) -> dict[str, int]:
    values = list(db.get_device_property(name, ["polled_attr"])["polled_attr"]) if _exists(db, name) else []
    result = {}
    for attr, period in zip(values[::2], values[1::2]):
        try:
            result[attr.lower()] = int(period)
        except ValueError:
            pass
    return result


def _live(address: str) -> tango.DeviceProxy | None:
    """The device, when its server runs now."""
    try:
        proxy = tango.DeviceProxy(address)
        proxy.set_timeout_millis(3000)
        proxy.ping()
        return proxy
    except tango.DevFailed:
        return None


def _poll(db: tango.Database, name: str, address: str, attr: str, period: int) -> None:
    proxy = _live(address)
    if proxy is not None:
        proxy.poll_attribute(attr, period)  # the admin device also records it in polled_attr
        return
    polled = _polled(db, name)
    polled[attr.lower()] = period
    db.put_device_property(name, {"polled_attr": [x for a, p in sorted(polled.items()) for x in (a, str(p))]})


_LIVE_FIELDS = {  # station-file key -> path in AttributeInfoEx
    "label": ("label",), "description": ("description",), "unit": ("unit",), "format": ("format",),
    "min_value": ("min_value",), "max_value": ("max_value",),
    "min_warning": ("alarms", "min_warning"), "max_warning": ("alarms", "max_warning"),
    "min_alarm": ("alarms", "min_alarm"), "max_alarm": ("alarms", "max_alarm"),
    "abs_change": ("events", "ch_event", "abs_change"), "rel_change": ("events", "ch_event", "rel_change"),
    "event_period": ("events", "per_event", "period"),
    "archive_abs_change": ("events", "arch_event", "archive_abs_change"),
    "archive_rel_change": ("events", "arch_event", "archive_rel_change"),
    "archive_period": ("events", "arch_event", "archive_period"),
}


def _then_live(write_db: Callable[[], None], address: str, attr: str, config: AttributeConfig) -> Callable[[], None]:
    def run() -> None:
        write_db()
        proxy = _live(address)
        if proxy is None:
            return  # read from the database when its server starts
        info = proxy.get_attribute_config(attr)
        for key, value in config.model_dump(exclude_none=True).items():
            path = _LIVE_FIELDS.get(key)
            if path is None:
                continue
            target = info
            for part in path[:-1]:
                target = getattr(target, part)
            setattr(target, path[-1], to_strings(value)[0])
        proxy.set_attribute_config(info)

    return run


def starter_level(server) -> int:
    """Starter's startup level: the interlock's server after those it watches."""
    return 2 if any(d.class_ == "SafetyInterlock" for d in server.devices) else 1


def _starter_changes(station: LoadedStation, db: tango.Database) -> tuple[list[Change], str | None]:
    """With tango.starter: the Starter device of the host (StartDsPath: where our server executables are)
    and every server registered as controlled by it, with its startup level."""
    starter = station.station.tango.starter
    if starter is None:
        return [], None
    host = starter.host_name
    changes = _device_changes(db, f"Starter/{host}", "Starter", starter.device)
    path = station.resolve(starter.path) if starter.path else Path(sys.executable).parent
    log_home = station.resolve(starter.log_home) if starter.log_home else station.data_dir / "log" / "starter"
    desired = {"StartDsPath": [str(path)], "LogFileHome": [str(log_home)]}
    changes += _property_changes(db, starter.device, desired, set(desired))
    if not log_home.is_dir():  # Starter makes only the last level of its log folder
        changes.append(Change("+", f"folder {log_home} for Starter's logs",
                              lambda: log_home.mkdir(parents=True, exist_ok=True)))
    for server in station.station.servers:
        level = starter_level(server)
        try:
            info = db.get_server_info(server.name)
            current = (info.host, int(info.mode), int(info.level))
        except (tango.DevFailed, ValueError):
            current = None
        if current != (host, 1, level):
            changes.append(Change("~" if current else "+", f"server {server.name} run by Starter on {host} "
                                                            f"(startup level {level})",
                                  lambda name=server.name, level=level: _put_starter_server(db, name, host, level)))
    return changes, starter.device


def _put_starter_server(db: tango.Database, server: str, host: str, level: int) -> None:
    info = tango.DbServerInfo()
    info.name, info.host, info.mode, info.level = server, host, 1, level
    _telling_starter(lambda: db.put_server_info(info))
    admin = f"dserver/{server}"
    if db.get_device_info(admin).exported:
        return  # running: its admin device already carries its host
    # pytango's databaseds lists a host's servers by the host of their admin device, which only an
    # export records (cppTango's lists them from the server table): record it, then mark it stopped
    export = tango.DbDevExportInfo()
    export.name, export.ior, export.host, export.pid, export.version = admin, "nada", host, 0, "5"
    _telling_starter(lambda: db.export_device(export))
    _telling_starter(lambda: db.unexport_server(server))


def _telling_starter(call: Callable[[], None]) -> None:
    """pytango's own databaseds stores the change, then tells the host's Starter with UpdateServersInfo,
    and fails the whole call when that Starter is not running yet (the embedded one tells Starter
    from a thread, see db.runtime.databaseds): the change stands, Starter reads it when it starts."""
    try:
        call()
    except tango.DevFailed as exc:
        if "UpdateServersInfo" not in str(exc):
            raise


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
                              lambda key=key, values=values: db.put_device_property(name, {key: values}),
                              (db.put_device_property, name, {key: values})))
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
                                  db.put_device_attribute_property(name, {attr: {key: values}}),
                                  (db.put_device_attribute_property, name, {attr: {key: values}})))
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
    """Run the changes in order; consecutive property puts of one device go in one database call
    (a 100-module station: about 3,700 changes in about 1,000 calls)."""
    pending: list = []  # [put, device, payload] of the puts not made yet

    def flush() -> None:
        if pending:
            put, device, payload = pending
            put(device, payload)
            pending.clear()

    for change in changes:
        if change.batch is None:
            flush()
            change.run()
            continue
        put, device, payload = change.batch
        if pending and pending[0] == put and pending[1] == device:
            for key, value in payload.items():
                merged = pending[2].setdefault(key, {} if isinstance(value, dict) else value)
                if isinstance(value, dict):
                    merged.update(value)
                else:
                    pending[2][key] = value
            continue
        flush()
        pending[:] = [put, device, {k: dict(v) if isinstance(v, dict) else v for k, v in payload.items()}]
    flush()
