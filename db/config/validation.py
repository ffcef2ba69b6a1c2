"""Checking a station file: every problem, each with its line and key path.

Schema errors come from pydantic; the cross-checks (classes, properties,
attributes, limits, instruments, names, ports) run on the raw document too,
so one pass reports everything that is wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from db.config import station_cache
from db.config.classes import ClassInfo, known_classes
from db.config.station import IPBUS_URI, RESOURCE_TCP, SERIAL_MODELS, LoadedStation, Station
from db.config.yaml_source import MAX_CHARS, YamlDocument, YamlSyntaxError, load_yaml
from devices.catalog import MODEL_CHANNELS
from devices.models import process_emulated, tcp_emulated
from devices.property_checks import property_problems
from devices.safety.rules import RuleError, parse_rules

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}
# (lower, higher) pairs of attribute limits that must be ordered
_ORDER = [
    ("min_value", "max_value"),
    ("min_alarm", "max_alarm"),
    ("min_warning", "max_warning"),
    ("min_value", "min_alarm"),
    ("min_alarm", "min_warning"),
    ("max_warning", "max_alarm"),
    ("max_alarm", "max_value"),
]


@dataclass(frozen=True)
class Problem:
    path: tuple
    line: int | None
    message: str

    def format(self, filename: str) -> str:
        where = f"{filename}:{self.line}" if self.line else filename
        key = dotted(self.path)
        return f"{where} {key}: {self.message}" if key else f"{where}: {self.message}"


class StationFileError(Exception):
    def __init__(self, filename: str, problems: list[Problem]):
        self.filename = filename
        self.problems = problems
        super().__init__("\n".join(p.format(filename) for p in problems))


def dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _pydantic_problems(doc: YamlDocument, exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        path = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = f"unknown key {path[-1]!r}"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append(Problem(path, doc.line_of(path), message))
    return problems


def _type_ok(expected: str, value) -> bool:
    if expected == "bool":
        return isinstance(value, bool)
    if expected == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "str":
        return isinstance(value, str)
    if expected.startswith("list["):
        inner = expected[5:-1]
        return isinstance(value, list) and all(_type_ok(inner, v) for v in value)
    return True


class _Checker:
    def __init__(self, doc: YamlDocument):
        self.doc = doc
        self.problems: list[Problem] = []
        self.classes = known_classes()

    def add(self, path: tuple, message: str) -> None:
        self.problems.append(Problem(path, self.doc.line_of(path), message))

    def run(self) -> list[Problem]:
        data = self.doc.data
        if not isinstance(data, dict):
            self.add((), "a station file is a mapping with 'station', 'servers', ...")
            return self.problems
        self._finite(data, ())
        self._data_dir(data)
        station = data.get("station")
        instruments = data.get("instruments") if isinstance(data.get("instruments"), dict) else {}
        self._instruments(instruments)
        seen_devices: dict[str, tuple] = {}
        seen_servers: dict[str, tuple] = {}
        instrument_server: dict[str, tuple[str, tuple]] = {}
        channels_used: dict[tuple[str, int], tuple] = {}
        servers = data.get("servers") if isinstance(data.get("servers"), list) else []
        for i, server in enumerate(servers):
            if not isinstance(server, dict):
                continue
            name = server.get("name")
            if isinstance(name, str):
                if name.lower() in seen_servers:
                    self.add(("servers", i, "name"), f"duplicate server {name!r} (also at {dotted(seen_servers[name.lower()])})")
                seen_servers.setdefault(name.lower(), ("servers", i, "name"))
            devices = server.get("devices") if isinstance(server.get("devices"), list) else []
            for j, device in enumerate(devices):
                if not isinstance(device, dict):
                    continue
                path = ("servers", i, "devices", j)
                self._device_name(device.get("name"), path, station, seen_devices)
                info = self._device_class(device.get("class"), path)
                self._device_instrument(device, info, path, instruments, name, instrument_server, channels_used)
                if info is not None:
                    self._device_properties(device.get("properties", {}), info, path)
                    self._device_attributes(device.get("attributes"), info, path)
                    self._device_mqtt(device.get("mqtt"), info, path)
        externals = data.get("external_devices") if isinstance(data.get("external_devices"), list) else []
        for k, device in enumerate(externals):
            if isinstance(device, dict):
                self._device_name(device.get("name"), ("external_devices", k), None, seen_devices)
        self._ports(data, instruments, servers)
        self._safety(data, servers, externals)
        self._modules(data, servers)
        self._run_devices(data, servers)
        self._sequences(data, servers)
        return self.problems

    def _sequences(self, data, servers) -> None:
        from devices.daq.burnin import parse_steps

        sequences = data.get("sequences") if isinstance(data.get("sequences"), dict) else {}
        for name, steps in sequences.items():
            try:
                parse_steps(json.dumps(steps))
            except (ValueError, TypeError) as exc:
                self.add(("sequences", name), str(exc))
        for i, server in enumerate(servers):
            for j, device in enumerate(server.get("devices") or [] if isinstance(server, dict) else []):
                if not isinstance(device, dict) or device.get("class") != "BurnInSequencer":
                    continue
                props = device.get("properties") if isinstance(device.get("properties"), dict) else {}
                path = ("servers", i, "devices", j, "properties")
                if props.get("sequence") not in sequences:
                    self.add(path + ("sequence",), f"unknown sequence {props.get('sequence')!r} "
                             f"(sequences: {', '.join(map(str, sequences)) or 'none defined'})")
                modules = {m.get("name") for m in data.get("modules") or [] if isinstance(m, dict)}
                if props.get("module") not in modules:
                    self.add(path + ("module",), f"unknown module {props.get('module')!r}")

    def _run_devices(self, data, servers) -> None:
        """A board's modules and a scanner's module and HV channel must be the station's own."""
        modules = {m.get("name") for m in data.get("modules") or [] if isinstance(m, dict)}
        classes = {d.get("name"): d.get("class") for s in servers if isinstance(s, dict)
                   for d in (s.get("devices") if isinstance(s.get("devices"), list) else []) if isinstance(d, dict)}
        for i, server in enumerate(servers):
            if not isinstance(server, dict) or not isinstance(server.get("devices"), list):
                continue
            for j, device in enumerate(server["devices"]):
                if not isinstance(device, dict) or not isinstance(device.get("properties"), dict):
                    continue
                path = ("servers", i, "devices", j, "properties")
                props = device["properties"]
                named = props.get("modules") if device.get("class") == "Ph2AcfRunner" else \
                    [props["module"]] if device.get("class") == "IvScanner" and props.get("module") else []
                for name in named if isinstance(named, list) else []:
                    if name not in modules:
                        known = ", ".join(sorted(str(m) for m in modules)) or "none defined"
                        self.add(path + ("modules" if device.get("class") == "Ph2AcfRunner" else "module",),
                                 f"unknown module {name!r} (modules: {known})")
                hv = props.get("hv_device")
                if device.get("class") == "IvScanner" and isinstance(hv, str) and classes.get(hv.lower()) != \
                        "PowerSupplyChannel":
                    self.add(path + ("hv_device",), f"{hv!r} is not a PowerSupplyChannel of this station")

    def _finite(self, value, path: tuple) -> None:
        """Infinity and NaN mean nothing anywhere in a station file (a NaN limit or threshold compares false)."""
        if isinstance(value, float) and not math.isfinite(value):
            self.add(path, f"must be a finite number, not {value!r}")
        elif isinstance(value, dict):
            for key, item in value.items():
                self._finite(item, path + (key,))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._finite(item, path + (i,))

    def _data_dir(self, data) -> None:
        data_dir = data.get("data_dir")
        if not isinstance(data_dir, str):
            return
        try:
            data_dir.format(station="x")
        except (KeyError, IndexError, ValueError) as exc:
            self.add(("data_dir",), f"{data_dir!r} has a placeholder other than {{station}} ({exc})")

    def _modules(self, data, servers) -> None:
        modules = data.get("modules")
        if not isinstance(modules, list):
            return
        channels = {str(d.get("name", "")).lower(): self._with_defaults(d) for s in servers if isinstance(s, dict)
                    for d in (s.get("devices") or []) if isinstance(d, dict) and d.get("class") == "PowerSupplyChannel"}
        names = set()
        for i, module in enumerate(modules):
            if not isinstance(module, dict):
                continue
            if module.get("name") in names:
                self.add(("modules", i, "name"), f"duplicate module {module.get('name')!r}")
            names.add(module.get("name"))
            for key, devices in (("lv", module.get("lv") or []), ("hv", [module.get("hv")])):
                for j, device in enumerate(devices if isinstance(devices, list) else []):
                    if isinstance(device, str) and device.lower() not in channels:
                        where = ("modules", i, key, j) if key == "lv" else ("modules", i, key)
                        self.add(where, f"{device!r} is not a PowerSupplyChannel of this station")
            for device in module.get("lv") if isinstance(module.get("lv"), list) else []:
                props = channels.get(str(device).lower())
                if props is not None:
                    self._module_setpoints(("modules", i), module, str(device), props)

    def _with_defaults(self, device: dict) -> dict:
        info = self.classes.get(device.get("class") or "")
        props = {name: p.default for name, p in info.properties.items()} if info else {}
        given = device.get("properties")
        return {**props, **(given if isinstance(given, dict) else {})}

    def _module_setpoints(self, path: tuple, module: dict, device: str, props: dict) -> None:
        """What `power on` writes to a module's LV channels must be within their limits."""
        volts, amps = module.get("lv_volts"), module.get("lv_current_limit")
        low, high, imax = props.get("voltage_min"), props.get("voltage_max"), props.get("current_limit_max")
        if _number(volts) and _number(low) and _number(high) and not low <= volts <= high:
            self.add(path + ("lv_volts",), f"lv_volts = {volts:g} V is outside [{low:g}, {high:g}] V, "
                                           f"the voltage limits of {device}")
        if _number(amps) and _number(imax) and amps > imax:
            self.add(path + ("lv_current_limit",), f"lv_current_limit = {amps:g} A is above current_limit_max = {imax:g} A "
                                                   f"of {device}")

    def _safety(self, data, servers, externals) -> None:
        safety = data.get("safety")
        if not isinstance(safety, dict):
            return
        classes = {}
        for server in servers:
            for device in (server.get("devices") or []) if isinstance(server, dict) else []:
                if isinstance(device, dict) and isinstance(device.get("name"), str):
                    classes[device["name"].lower()] = device.get("class")
        for device in externals:
            if isinstance(device, dict) and isinstance(device.get("name"), str):
                classes[device["name"].lower()] = device.get("class")
        own = str(safety.get("device", "")).lower()
        if classes.get(own) != "SafetyInterlock":
            self.add(("safety", "device"), f"{own or '(none)'} must be a SafetyInterlock device listed under servers")
        try:
            rules, permits = parse_rules(safety, own)
        except RuleError as exc:
            self.add(_rule_path(exc.path), exc.message)
            return

        def check_device(path, device, attribute=None, command=None):
            if device not in classes:
                self.add(path, f"unknown device {device!r}: not in this station file (add it, or list it under external_devices)")
                return
            info = self.classes.get(classes[device] or "")
            if info is None:
                return  # an external device of a class we do not know: cannot check deeper
            if attribute is not None and attribute not in info.attributes:
                self.add(path, f"{info.name} {device} has no attribute {attribute!r}")
            if command is not None and command not in info.commands and command not in ("Init",):
                self.add(path, f"{info.name} {device} has no command {command!r} (known: {', '.join(sorted(info.commands))})")

        def check_inputs(path, condition):
            for kind, name in sorted(condition.inputs()):
                if kind == "state":
                    check_device(path, name)
                else:
                    device, attribute = name.rsplit("/", 1)
                    check_device(path, device, attribute=attribute)

        for i, rule in enumerate(rules):
            check_inputs(("safety", "rules", i, "when"), rule.condition)
            for j, action in enumerate(rule.actions):
                check_device(("safety", "rules", i, "actions", j), action.device, command=action.command)
        for i, permit in enumerate(permits):
            check_device(("safety", "permits", i, "device"), permit.device, command=permit.command)
            for j, condition in enumerate(permit.requires):
                check_inputs(("safety", "permits", i, "requires", j), condition)

    def _device_name(self, name, path, station, seen) -> None:
        if not isinstance(name, str):
            return
        key = name.lower()
        if key in seen:
            self.add(path + ("name",), f"duplicate device name {name!r} (also at {dotted(seen[key])})")
            return
        seen[key] = path + ("name",)
        if station and key.count("/") == 2 and key.split("/")[0] != str(station).lower():
            self.add(path + ("name",), f"device {name!r} must be in the station's domain: {station}/<family>/<member>")

    def _device_class(self, cls, path) -> ClassInfo | None:
        if not isinstance(cls, str):
            return None
        if cls not in self.classes:
            known = ", ".join(sorted(self.classes))
            self.add(path + ("class",), f"unknown device class {cls!r} (known: {known})")
            return None
        return self.classes[cls]

    def _device_instrument(self, device, info, path, instruments, server, instrument_server, channels_used) -> None:
        ref = device.get("instrument")
        if ref is None:
            if info is not None and info.instrument_models and not {"model", "resource"} <= set(device.get("properties") or {}):
                self.add(path, f"a {info.name} needs 'instrument' (or the properties model and resource)")
            return
        if not isinstance(ref, str):
            return
        if ref not in instruments:
            known = ", ".join(sorted(instruments)) or "none defined"
            self.add(path + ("instrument",), f"unknown instrument {ref!r} (instruments: {known})")
            return
        model = instruments[ref].get("model") if isinstance(instruments[ref], dict) else None
        model = model if isinstance(model, str) else None
        if info is not None and model is not None and model not in info.instrument_models:
            self.add(path + ("instrument",), f"a {info.name} cannot drive a {model} (it drives: {', '.join(info.instrument_models)})")
        if ref in instrument_server and instrument_server[ref][0] != server:
            other = instrument_server[ref][1]
            self.add(path + ("instrument",), f"instrument {ref!r} is already used by server {instrument_server[ref][0]!r} "
                     f"({dotted(other)}): channels of one instrument share one connection, so put them in one server")
        instrument_server.setdefault(ref, (server, path))
        channel = (device.get("properties") or {}).get("channel", 1) if isinstance(device.get("properties"), dict) else 1
        if model in MODEL_CHANNELS and isinstance(channel, int) and channel not in MODEL_CHANNELS[model]:
            self.add(path + ("properties", "channel"), f"a {model} has channels {list(MODEL_CHANNELS[model])}, not {channel}")
        if isinstance(channel, int):
            key = (ref, channel)
            if key in channels_used:
                self.add(path + ("instrument",), f"channel {channel} of {ref!r} is already driven by {dotted(channels_used[key])}")
            channels_used.setdefault(key, path)

    def _device_properties(self, properties, info: ClassInfo, path) -> None:
        if not isinstance(properties, dict):
            return
        for name, value in properties.items():
            where = path + ("properties", name)
            if name not in info.properties:
                known = ", ".join(sorted(info.properties))
                self.add(where, f"{info.name} has no property {name!r} (known: {known})")
                continue
            expected = info.properties[name].type
            if not _type_ok(expected, value):
                self.add(where, f"expected {_EXPECTED.get(expected, expected)}, got {value!r}")
        merged = {name: p.default for name, p in info.properties.items()} | {
            name: value for name, value in properties.items() if name in info.properties}
        for name, message in property_problems(info.name, merged):
            where = path + ("properties", name) if name in properties else path
            if not (isinstance(merged.get(name), float) and not math.isfinite(merged[name])):  # reported by _finite
                self.add(where, message)

    def _device_attributes(self, attributes, info: ClassInfo, path) -> None:
        if not isinstance(attributes, dict):
            return
        for name, config in attributes.items():
            where = path + ("attributes", name)
            if name not in info.attributes:
                known = ", ".join(sorted(info.attributes))
                self.add(where, f"{info.name} has no attribute {name!r} (known: {known})")
                continue
            if not isinstance(config, dict):
                continue
            for low, high in _ORDER:
                lo, hi = config.get(low), config.get(high)
                if _number(lo) and _number(hi) and lo > hi:
                    self.add(where + (low,), f"{low} = {lo} is above {high} = {hi}")

    def _device_mqtt(self, mqtt, info: ClassInfo, path) -> None:
        if not isinstance(mqtt, dict):
            return
        for i, name in enumerate(mqtt.get("write") or []):
            where = path + ("mqtt", "write", i)
            attribute = info.attributes.get(name) if isinstance(name, str) else None
            if attribute is None:
                self.add(where, f"{info.name} has no attribute {name!r} to allow writing")
            elif not attribute.writable:
                self.add(where, f"{info.name}.{name} is read-only: it cannot be written over MQTT")
        for i, name in enumerate(mqtt.get("commands") or []):
            if not isinstance(name, str) or name not in info.commands:
                known = ", ".join(sorted(info.commands))
                self.add(path + ("mqtt", "commands", i), f"{info.name} has no command {name!r} (known: {known})")

    def _instruments(self, instruments: dict) -> None:
        for name, instrument in instruments.items():
            if not isinstance(instrument, dict):
                continue
            path = ("instruments", name)
            model = instrument.get("model") if isinstance(instrument.get("model"), str) else None
            if isinstance(model, str) and model not in MODEL_CHANNELS:
                self.add(path + ("model",), f"unknown instrument model {model!r} (known: {', '.join(sorted(MODEL_CHANNELS))})")
            resource = instrument.get("resource")
            tcp = RESOURCE_TCP.match(resource) if isinstance(resource, str) else None
            if tcp and not 1 <= int(tcp["port"]) <= 65535:
                self.add(path + ("resource",), f"port {int(tcp['port'])} of {resource!r} is not a TCP port (1-65535)")
                continue
            if instrument.get("emulated") is True and isinstance(resource, str) and model in SERIAL_MODELS:
                control = (instrument.get("emulator") or {}).get("control_port") if isinstance(instrument.get("emulator"), dict) else None
                if control is None:
                    self.add(path + ("emulator",), "an emulated serial instrument needs emulator.control_port")
                if "://" in resource:
                    self.add(path + ("resource",), "an emulated serial instrument's resource is a path for its pseudo-terminal")
            elif model in process_emulated() and isinstance(resource, str):
                if not IPBUS_URI.match(resource):
                    self.add(path + ("resource",), f"an {model} is reached by an IPbus URI such as "
                             f"chtcp-2.0://localhost:10203?target=fc7ot1:50001, not {resource!r}")
            elif instrument.get("emulated") is True and isinstance(resource, str):
                match = RESOURCE_TCP.match(resource)
                if not match:
                    self.add(path + ("resource",), "an emulated instrument needs a TCPIP::<host>::<port>::SOCKET resource")
                elif match["host"] not in LOOPBACK:
                    self.add(path + ("resource",), f"emulators listen on loopback only, not {match['host']!r}")
            if instrument.get("emulated") is True and isinstance(model, str) and model in MODEL_CHANNELS \
                    and model not in tcp_emulated() + process_emulated() and model not in SERIAL_MODELS:
                self.add(path + ("emulated",), f"there is no emulator for {model!r}")

    def _ports(self, data, instruments, servers) -> None:
        used: dict[int, tuple] = {}

        def claim(port, path, what):
            if not isinstance(port, int):
                return
            if port in used:
                self.add(path, f"port {port} ({what}) is already used at {dotted(used[port][0])} ({used[port][1]})")
            used.setdefault(port, (path, what))

        try:
            db = data["tango"]["database"]["embedded"]
            claim(db.get("port", 10000), ("tango", "database", "embedded", "port"), "Tango database")
        except (KeyError, TypeError, AttributeError):
            pass
        try:
            broker = data["bridge"]["mqtt"]["embedded"]
            claim(broker.get("port", 1883), ("bridge", "mqtt", "embedded", "port"), "embedded MQTT broker")
        except (KeyError, TypeError, AttributeError):
            pass
        for name, instrument in instruments.items():
            if isinstance(instrument, dict) and instrument.get("emulated") is True and isinstance(instrument.get("resource"), str):
                match = RESOURCE_TCP.match(instrument["resource"])
                if match:
                    claim(int(match["port"]), ("instruments", name, "resource"), "emulator")
                    control = (instrument.get("emulator") or {}).get("control_port") if isinstance(instrument.get("emulator"), dict) else None
                    claim(control if control is not None else int(match["port"]) + 1, ("instruments", name, "emulator"), "emulator control")
        for i, server in enumerate(servers):  # a pinned server also pins its ZMQ ports: port + 1 and + 2
            if isinstance(server, dict) and isinstance(server.get("port"), int):
                for offset, what in ((0, "device server"), (1, "that server's ZMQ event port"),
                                     (2, "that server's ZMQ heartbeat port")):
                    claim(server["port"] + offset, ("servers", i, "port"), what)


def _rule_path(text: str) -> tuple:
    path = []
    for part in text.split("."):
        name, *indices = part.replace("]", "").split("[")
        path.append(name)
        path.extend(int(i) for i in indices)
    return tuple(path)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_text(text: str, keep: dict | None = None) -> tuple[Station | None, list[Problem]]:
    """The station of ``text`` (None when it has problems) and its problems; ``keep`` gets the parsed
    data under "data"."""
    try:
        doc = load_yaml(text)
    except YamlSyntaxError as exc:
        return None, [Problem((), exc.line, exc.message)]
    if keep is not None:
        keep["data"] = doc.data
    problems: list[Problem] = []
    station = None
    try:
        station = Station.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(doc, exc))
    try:
        problems.extend(_Checker(doc).run())
    except (TypeError, AttributeError, KeyError, ValueError):
        if not problems:  # a bug of the cross-checks on a file the schema accepted
            raise
        # the schema already names what is wrong with this file; the cross-checks tripped over the same shape
    unique = {(dotted(p.path), p.message): Problem(p.path, p.line or 1, p.message) for p in problems}
    problems = sorted(unique.values(), key=lambda p: (p.line or 0, dotted(p.path)))
    return (station if not problems else None), problems


def read_text(path: Path) -> str:
    """The station file as text; a file that is not UTF-8 text gets an error naming its line."""
    try:
        if path.stat().st_size > MAX_CHARS * 4:
            raise StationFileError(path.name, [Problem((), 1, f"the file is too large for a station file: "
                                                               f"{path.stat().st_size} bytes")])
        raw = path.read_bytes()
    except OSError as exc:
        raise StationFileError(str(path), [Problem((), None, f"cannot read the station file: {exc.strerror}")]) from exc
    for bom, encoding in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                          (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if raw.startswith(bom):
            raise StationFileError(path.name, [Problem((), 1, f"the file is {encoding} text: save it as UTF-8")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start]
        raise StationFileError(path.name, [Problem((), line, f"not UTF-8 text: byte 0x{byte:02x} at column {column} "
                                                             "(save the file as UTF-8)")]) from None


def load_station(path: str | Path) -> LoadedStation:
    """Load and validate a station file; raise StationFileError listing every problem. A file that
    passed every check before, with this code, is not read and checked again (station_cache)."""
    path = Path(path)
    text = read_text(path)
    data = station_cache.recall(text)
    if data is not None:
        try:
            return LoadedStation(Station.model_validate(data), path)
        except ValidationError:
            pass  # the schema changed under an entry: checked in full below
    doc_data: dict = {}
    station, problems = check_text(text, keep=doc_data)
    if problems:
        raise StationFileError(path.name, problems)
    station_cache.remember(text, doc_data.get("data"))
    return LoadedStation(station, path)
