"""Metadata of the device classes, read from the Tango classes themselves, so
validation and documentation never drift from the code."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import tango

from devices import catalog

_TYPES = {
    tango.CmdArgType.DevBoolean: "bool",
    tango.CmdArgType.DevShort: "int",
    tango.CmdArgType.DevLong: "int",
    tango.CmdArgType.DevLong64: "int",
    tango.CmdArgType.DevUShort: "int",
    tango.CmdArgType.DevULong: "int",
    tango.CmdArgType.DevULong64: "int",
    tango.CmdArgType.DevFloat: "float",
    tango.CmdArgType.DevDouble: "float",
    tango.CmdArgType.DevString: "str",
    tango.CmdArgType.DevState: "state",
    tango.CmdArgType.DevVoid: "none",
    tango.CmdArgType.DevVarStringArray: "list[str]",
    tango.CmdArgType.DevVarDoubleArray: "list[float]",
    tango.CmdArgType.DevVarLong64Array: "list[int]",
    tango.CmdArgType.DevVarBooleanArray: "list[bool]",
}


@dataclass(frozen=True)
class PropertyInfo:
    name: str
    type: str
    default: object
    doc: str


@dataclass(frozen=True)
class AttributeInfo:
    name: str
    type: str
    writable: bool
    unit: str
    doc: str


@dataclass(frozen=True)
class CommandInfo:
    name: str
    argument: str
    doc: str


@dataclass(frozen=True)
class ClassInfo:
    name: str
    doc: str
    properties: dict[str, PropertyInfo]
    attributes: dict[str, AttributeInfo]
    commands: dict[str, CommandInfo]
    instrument_models: tuple[str, ...]


def _type(arg) -> str:
    return _TYPES.get(arg, str(arg))


def describe(cls) -> ClassInfo:
    klass = cls.TangoClassClass
    properties = {
        name: PropertyInfo(name, _type(spec[0]), spec[2] if len(spec) > 2 else None, spec[1])
        for name, spec in klass.device_property_list.items()
    }
    attributes = {
        "State": AttributeInfo("State", "state", False, "", "the device state"),
        "Status": AttributeInfo("Status", "str", False, "", "the state in words"),
    }
    for name, attr in klass.attr_list.items():
        kwargs = attr._kwargs if hasattr(attr, "_kwargs") else {}
        attributes[name] = AttributeInfo(
            name,
            _type(attr.attr_type),
            attr.attr_write in (tango.AttrWriteType.READ_WRITE, tango.AttrWriteType.WRITE),
            kwargs.get("unit", ""),
            (attr.__doc__ or "").strip(),
        )
    commands = {
        name: CommandInfo(name, _type(spec[0][0]), (getattr(cls, name).__doc__ or "").strip())
        for name, spec in klass.cmd_list.items()
        if name not in ("State", "Status", "Init")
    }
    return ClassInfo(
        cls.__name__,
        (cls.__doc__ or "").strip(),
        properties,
        attributes,
        commands,
        catalog.INSTRUMENT_MODELS.get(cls.__name__, ()),
    )


@cache
def known_classes() -> dict[str, ClassInfo]:
    return {name: describe(cls) for name, cls in catalog.DEVICE_CLASSES.items()}
