"""A station file for N modules (``trackerdcs config generate``), laid out as a TEDD integration
station is: each module has 2 LV channels on an HMP4040 shared with the next module (4 channels)
and 1 HV channel on a Keithley 2410 of its own; a cold box (an SHT85 and a Julabo chiller) per
``per_box`` modules; the interlock has per box a dew-point and a sensor-fault rule that switch off
every HV of the box together, per module an LV-lost rule, and per module the HV On permit (LV on,
its box's rules clear).

Devices are grouped into servers as a large station needs them: one server per box for its LV
channels, one for its HV channels and one for its cold box, and one for the interlock; the
emulators of a box run in one process. Every port is counted from ``base_port`` (two per
instrument: its port and its emulator's control port).
"""

from __future__ import annotations

from typing import Any

LV_PER_SUPPLY = 2  # modules per HMP4040 (4 channels, 2 per module)


def _lv(name: str, instrument: str, channel: int) -> dict[str, Any]:
    return {"name": name, "class": "PowerSupplyChannel", "instrument": instrument,
            "properties": {"channel": channel, "voltage_max": 12.0, "current_limit_max": 3.0, "poll_period": 0.5},
            "attributes": {"voltage": {"abs_change": 0.005, "archive": True, "publish": True},
                           "current": {"abs_change": 0.001, "archive": True, "publish": True},
                           "output": {"publish": True}},
            "mqtt": {"write": ["voltage_setpoint", "current_limit"], "commands": ["On", "Off", "Reset"]}}


def _hv(name: str, instrument: str) -> dict[str, Any]:
    return {"name": name, "class": "PowerSupplyChannel", "instrument": instrument,
            "properties": {"voltage_min": 0.0, "voltage_max": 600.0, "current_limit_max": 1.0e-4,
                           "ramp_rate_max": 50.0, "default_ramp_rate": 10.0, "ramp_required": True,
                           "poll_period": 0.5},
            "attributes": {"voltage": {"abs_change": 0.1, "archive": True, "publish": True},
                           "current": {"abs_change": 1.0e-9, "max_alarm": 9.0e-5, "archive": True, "publish": True},
                           "output": {"archive": True, "publish": True}},
            "mqtt": {"write": ["voltage_setpoint", "ramp_rate"], "commands": ["On", "Off", "Reset"],
                     "limits": {"voltage_setpoint": [0, 600], "ramp_rate": [0.1, 50]}}}


def station(modules: int, name: str = "scale", per_box: int = 10, base_port: int = 16000,
            database_port: int = 10000, broker_port: int = 1883) -> dict[str, Any]:
    """The station file's content (a mapping to dump as YAML)."""
    if modules < 1:
        raise ValueError(f"a station needs at least one module, not {modules}")
    if per_box < 1:
        raise ValueError(f"a cold box holds at least one module, not {per_box}")
    boxes = (modules + per_box - 1) // per_box
    ports = iter(range(base_port, base_port + 100_000, 2))
    instruments: dict[str, Any] = {}
    servers: list[dict[str, Any]] = []
    module_list: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    permits: list[dict[str, Any]] = []

    def instrument(key: str, model: str, group: str) -> str:
        port = next(ports)
        instruments[key] = {"model": model, "resource": f"TCPIP::127.0.0.1::{port}::SOCKET", "emulated": True,
                            "emulator": {"group": group, "control_port": port + 1}}
        return key

    for b in range(boxes):
        box = f"box{b + 1:02d}"
        members = range(b * per_box, min(modules, (b + 1) * per_box))
        group = f"{name}-{box}"
        lv_devices, hv_devices = [], []
        for m in members:
            module = f"m{m + 1:03d}"
            supply = f"lv-hmp4040-{(m // LV_PER_SUPPLY) + 1:03d}"
            if supply not in instruments:
                instrument(supply, "hmp4040", group)
            first = 1 + 2 * (m % LV_PER_SUPPLY)
            lv = [f"{name}/lv/{module}-ch{c}" for c in (1, 2)]
            lv_devices += [_lv(lv[0], supply, first), _lv(lv[1], supply, first + 1)]
            hv = f"{name}/hv/{module}"
            hv_devices.append(_hv(hv, instrument(f"hv-k2410-{module}", "keithley2410", group)))
            module_list.append({"name": module, "lv": lv, "hv": hv, "lv_stable_s": 1.0, "lv_volts": 10.5,
                                "lv_current_limit": 2.0, "type": "2S"})
            rules.append({"name": f"{module}-lv-lost", "description": f"LV of {module} dropped while its bias is on",
                          "when": {"all": [{"state": lv[0], "in": ["OFF", "FAULT", "UNREACHABLE"]},
                                           {"state": hv, "in": ["ON", "MOVING"]}]},
                          "actions": [{"device": hv, "command": "Off"}]})
            permits.append({"device": hv, "command": "On", "requires": [{"state": lv[0], "in": ["ON"]}],
                            "rules_clear": [f"{box}-dew-point", f"{box}-sensor-fault"]})
        sensor, chiller = f"{name}/env/{box}", f"{name}/env/{box}-chiller"
        every_hv = [{"device": d["name"], "command": "Off"} for d in hv_devices]
        rules += [{"name": f"{box}-dew-point", "description": f"the modules of {box} would condense; bias off",
                   "when": {"difference": [f"{sensor}/temperature", f"{sensor}/dew_point"], "below": 3.0},
                   "readings": 3, "actions": every_hv},
                  {"name": f"{box}-sensor-fault", "description": f"no trustworthy humidity reading in {box}",
                   "when": {"state": sensor, "in": ["FAULT", "UNKNOWN", "UNREACHABLE"]}, "actions": every_hv}]
        servers += [
            {"name": f"PowerSupply/{name}-{box}-lv", "devices": lv_devices},
            {"name": f"PowerSupply/{name}-{box}-hv", "devices": hv_devices},
            {"name": f"Environment/{name}-{box}", "devices": [
                {"name": sensor, "class": "EnvironmentSensor",
                 "instrument": instrument(f"{box}-sht85", "sht85", group),
                 "properties": {"poll_period": 1.0, "stale_after": 10.0},
                 "attributes": {a: {"archive": True, "publish": True, "abs_change": 0.05}
                                for a in ("temperature", "humidity", "dew_point", "dew_point_margin")}},
                {"name": chiller, "class": "Chiller", "instrument": instrument(f"{box}-julabo", "julabo", group),
                 "properties": {"setpoint_min": -30.0, "setpoint_max": 25.0},
                 "attributes": {"bath_temperature": {"archive": True, "publish": True, "abs_change": 0.05}}}]},
        ]
    interlock = f"{name}/safety/interlock"
    servers.append({"name": f"Safety/{name}", "devices": [
        {"name": interlock, "class": "SafetyInterlock", "mqtt": {"commands": ["Acknowledge", "Reset"]}}]})
    return {
        "station": name,
        "description": f"{modules} modules in {boxes} cold boxes (generated by trackerdcs config generate)",
        "data_dir": f"../var/{name}",
        "tango": {"database": {"embedded": {"host": "127.0.0.1", "port": database_port}}},
        "instruments": instruments,
        "servers": servers,
        "modules": module_list,
        "safety": {"device": interlock, "grace_period": 15, "rules": rules, "permits": permits},
        "bridge": {"archive": {"backend": "embedded"}, "mqtt": {"embedded": {"host": "127.0.0.1", "port": broker_port}}},
    }
