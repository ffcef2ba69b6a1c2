"""One normalised Tango event: what every sink consumes."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

Value = float | int | bool | str


@dataclass(frozen=True, slots=True)
class Reading:
    device: str  # domain/family/member, lower case
    attribute: str
    value: Value | None  # None when the quality is INVALID and the event carried no value
    quality: str  # VALID, INVALID, ALARM, WARNING, CHANGING
    unit: str
    ts_ns: int  # the Tango event's own timestamp, ns since the epoch

    @property
    def family(self) -> str:
        return self.device.split("/")[1]


_TAG_ESCAPES = str.maketrans({"\\": "\\\\", ",": "\\,", "=": "\\=", " ": "\\ "})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})


def _escape_tag(text: str) -> str:
    return text.translate(_TAG_ESCAPES)


def _escape_string_field(text: str) -> str:
    return text.translate(_STRING_ESCAPES)


@functools.lru_cache(maxsize=16384)
def _series(station: str, device: str, attribute: str, unit: str) -> str:
    """Measurement and tags of one attribute (the same for all its points: computed once)."""
    family = device.split("/")[1]
    tags = (f"{_escape_tag(family)},station={_escape_tag(station)},device={_escape_tag(device)},"
            f"attribute={_escape_tag(attribute)}")
    if unit:
        tags += f",unit={_escape_tag(unit)}"
    return tags


def line_protocol(reading: Reading, station: str) -> str | None:
    """InfluxDB line protocol: measurement = family, tags station/device/attribute/unit,
    ns timestamp. Numbers and booleans go to the float field ``value`` (true = 1.0)
    and text (states, strings) to the string field ``text``: an InfluxDB field
    keeps one type per measurement, so every attribute of a family must agree.
    The quality is the string field ``quality``."""
    value = reading.value
    if value is None:
        field = ""
    elif isinstance(value, bool):
        field = f"value={1.0 if value else 0.0}"
    elif isinstance(value, (int, float)):
        number = float(value)
        field = f"value={number!r}" if math.isfinite(number) else ""
    else:
        field = f'text="{_escape_string_field(str(value))}"'
    quality = f'quality="{reading.quality}"'
    fields = f"{field},{quality}" if field else quality
    return f"{_series(station, reading.device, reading.attribute, reading.unit)} {fields} {reading.ts_ns}"
