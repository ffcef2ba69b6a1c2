"""One normalised Tango event: what every sink consumes."""

from __future__ import annotations

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


def line_protocol(reading: Reading, station: str) -> str | None:
    """InfluxDB line protocol: measurement = family, tags station/device/attribute/unit,
    fields value (+ quality), ns timestamp. None for a reading with nothing to store."""
    value = reading.value
    if value is None:
        field = ""
    elif isinstance(value, bool):
        field = f"value={'true' if value else 'false'}"
    elif isinstance(value, int):
        field = f"value={value}i"
    elif isinstance(value, float):
        if not math.isfinite(value):
            field = ""
        else:
            field = f"value={value!r}"
    else:
        field = f'value="{_escape_string_field(str(value))}"'
    quality = f'quality="{reading.quality}"'
    fields = f"{field},{quality}" if field else quality
    tags = (f"{_escape_tag(reading.family)},station={_escape_tag(station)},device={_escape_tag(reading.device)},"
            f"attribute={_escape_tag(reading.attribute)}")
    if reading.unit:
        tags += f",unit={_escape_tag(reading.unit)}"
    return f"{tags} {fields} {reading.ts_ns}"
