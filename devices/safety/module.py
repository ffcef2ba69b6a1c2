"""A detector module: its LV channels and its HV channel, powered in order.

The one definition of a module: the station file's ``modules[]`` entries are
validated with it, config apply writes them to the interlock as JSON, the
interlock reads them back with it, and ``trackerdcs power`` and the
interlock's PowerOn/PowerOff sequence it (devices/safety/sequence.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from devices.tango_names import DeviceName


class Module(BaseModel):
    """What `trackerdcs power` and the interlock's PowerOn/PowerOff sequence: LV on, LV stable, HV ramp."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    type: Literal["2S", "PS"] = "2S"  # the module type: which chips its hybrids carry
    lv: tuple[DeviceName, ...] = Field(min_length=1)
    hv: DeviceName
    lv_stable_s: float = Field(default=2.0, ge=0, le=600, description="LV must read its setpoint this long before HV")
    lv_tolerance_v: float = Field(default=0.05, gt=0, le=10)
    timeout_s: float = Field(default=120.0, gt=0, le=3600, description="longest wait for one step")
    lv_volts: float | None = Field(default=None, ge=0, le=100,
                                   description="LV voltage_setpoint written before the LV On (none: keep the channel's)")
    lv_current_limit: float | None = Field(default=None, gt=0, le=100,
                                           description="LV current_limit written before the LV On, A (none: keep it)")
