"""Pure SCPI encoding and parsing helpers shared by the instrument drivers.

Every parser takes the query that was sent (for the error message) and the
raw reply, and either returns a typed value or raises ProtocolError.
"""

from __future__ import annotations

import math
import re

from devices.drivers.errors import ProtocolError

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_ERROR = re.compile(r'^([+-]?\d+)\s*,\s*"(.*)"$')


def format_number(value: float) -> str:
    """Format a finite float the way SCPI numeric parameters are written."""
    if not math.isfinite(value):
        raise ValueError(f"cannot send a non-finite number to an instrument: {value!r}")
    return f"{value:.6g}"


def parse_float(query: str, reply: str) -> float:
    text = reply.strip()
    if not _NUMBER.match(text):
        raise ProtocolError(query, reply, "a number")
    return float(text)


def parse_floats(query: str, reply: str, count: int) -> list[float]:
    parts = [p.strip() for p in reply.strip().split(",")]
    if len(parts) < count or not all(_NUMBER.match(p) for p in parts[:count]):
        raise ProtocolError(query, reply, f"at least {count} comma-separated numbers")
    return [float(p) for p in parts[:count]]


def parse_bool(query: str, reply: str) -> bool:
    text = reply.strip().upper()
    if text in ("1", "ON"):
        return True
    if text in ("0", "OFF"):
        return False
    raise ProtocolError(query, reply, "0/1 or ON/OFF")


def parse_error(query: str, reply: str) -> tuple[int, str]:
    """Parse a SYST:ERR? reply such as ``0,"No error"``."""
    match = _ERROR.match(reply.strip())
    if not match:
        raise ProtocolError(query, reply, '<code>,"<message>"')
    return int(match.group(1)), match.group(2)


def parse_identity(query: str, reply: str) -> tuple[str, str, str, str]:
    """Parse ``*IDN?``: manufacturer, model, serial, firmware."""
    parts = [p.strip() for p in reply.strip().split(",")]
    if len(parts) != 4 or not parts[0]:
        raise ProtocolError(query, reply, "manufacturer,model,serial,firmware")
    return parts[0], parts[1], parts[2], parts[3]
