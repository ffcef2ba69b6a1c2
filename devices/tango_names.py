"""Tango device names as the station file and the module definition accept them."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

DEVICE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")


def device_name(value: str) -> str:
    """domain/family/member, lower-cased (Tango names are case-insensitive)."""
    if not DEVICE_NAME.match(value):
        raise ValueError(f"{value!r} is not a Tango device name domain/family/member")
    return value.lower()


DeviceName = Annotated[str, AfterValidator(device_name)]
