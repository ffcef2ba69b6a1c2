"""Tango adapter of one power-supply channel (LV or HV).

Everything it knows comes from the component manager's last observation;
writes and commands are forwarded and a refusal becomes a DevFailed whose
description says why.
"""

from __future__ import annotations

import tango
from tango import AttrQuality, AttrWriteType, DevState
from tango.server import attribute, command, device_property

from devices.polling import CommandRefused
from devices.power_supply.manager import PowerSupplyChannelManager
from devices.power_supply.model import ChannelLimits, ChannelState, ChannelStatus, LimitError
from devices.power_supply.pool import DriverPool
from devices.property_checks import refuse_bad_properties
from devices.tango_events import HeartbeatDevice, events, own_properties

_STATES = {
    ChannelState.INIT: DevState.INIT,
    ChannelState.OFF: DevState.OFF,
    ChannelState.ON: DevState.ON,
    ChannelState.MOVING: DevState.MOVING,
    ChannelState.ALARM: DevState.ALARM,
    ChannelState.FAULT: DevState.FAULT,
}

# attribute -> field of ChannelStatus; these are pushed as events on every poll
PUSHED = {
    "voltage": "voltage",
    "current": "current",
    "voltage_setpoint": "voltage_setpoint",
    "current_limit": "current_limit",
    "output": "output",
    "ramp_rate": "ramp_rate",
    "tripped": "tripped",
}
MEASURED = ("voltage", "current")


def _refuse(reason: str, exc: Exception, origin: str):
    tango.Except.throw_exception(reason, str(exc), origin)


class PowerSupplyChannel(HeartbeatDevice):
    """One output channel of a power supply: an HMP4040 LV channel or a Keithley 2410 HV output."""

    pool = DriverPool()  # channels of one instrument share its connection

    model = device_property(dtype=str, doc="instrument model: hmp4040 or keithley2410")
    resource = device_property(dtype=str, doc="VISA resource, e.g. TCPIP::10.0.0.5::5025::SOCKET or ASRL/dev/ttyUSB0::INSTR")
    channel = device_property(dtype=int, default_value=1, doc="output channel number on the instrument")
    voltage_min = device_property(dtype=float, default_value=0.0, doc="lowest voltage_setpoint accepted, V")
    voltage_max = device_property(dtype=float, default_value=10.0, doc="highest voltage_setpoint accepted, V")
    current_limit_max = device_property(dtype=float, default_value=1.0, doc="highest current_limit accepted, A")
    ramp_rate_max = device_property(dtype=float, default_value=100.0, doc="highest ramp_rate accepted, V/s")
    default_ramp_rate = device_property(dtype=float, default_value=0.0, doc="ramp_rate at start, V/s (0 = step)")
    ramp_required = device_property(dtype=bool, default_value=False, doc="refuse ramp_rate 0 (set for HV)")
    poll_period = device_property(dtype=float, default_value=0.5, doc="instrument polling period, s")
    timeout = device_property(dtype=float, default_value=2.0, doc="instrument reply timeout, s")
    interlock = device_property(dtype=str, default_value="", doc="SafetyInterlock asked before On (empty: none)")

    def init_device(self) -> None:
        super().init_device()
        self.set_state(DevState.INIT)
        self.set_status("connecting to the instrument")
        self._status = ChannelStatus(ChannelState.INIT, "connecting", 0.0)
        self.manager = None
        try:
            refuse_bad_properties("PowerSupplyChannel", own_properties(self))
            limits = ChannelLimits(
                voltage_min=self.voltage_min,
                voltage_max=self.voltage_max,
                current_limit_max=self.current_limit_max,
                ramp_rate_max=self.ramp_rate_max,
                ramp_required=self.ramp_required,
            )
            if not self.model or not self.resource:
                raise ValueError("the device properties 'model' and 'resource' must be set")
            driver = self.pool.acquire(self.model, self.resource, self.timeout)
            self.manager = PowerSupplyChannelManager(
                driver,
                self.channel,
                limits,
                ramp_rate=self.default_ramp_rate,
                poll_period_s=self.poll_period,
                on_update=self._on_update,
                name=self.get_name(),
            )
        except ValueError as exc:
            self.set_state(DevState.FAULT)
            self.set_status(f"configuration error: {exc}")
            return
        self.set_change_event("State", True, False)
        self.set_change_event("Status", True, False)
        self.manager.start()

    def delete_device(self) -> None:
        if self.manager is not None:
            self.manager.stop()
            self.pool.release(self.resource)
            self.manager = None

    # ---------------------------------------------------------------- events
    def _on_update(self, status: ChannelStatus) -> None:
        self.beat()
        previous, self._status = self._status, status
        state = _STATES[status.state]
        if state != self.get_state():
            self.set_state(state)
            self.push_change_event("State", state)
        if status.status != previous.status:
            self.set_status(status.status)
            self.push_change_event("Status", status.status)
        for name, field in PUSHED.items():
            value, stamp, quality = self._value(name, field)
            self.push_change_event(name, value, stamp, quality)
            self.push_archive_event(name, value, stamp, quality)

    def _value(self, name: str, field: str):
        status = self._status
        fault = status.state in (ChannelState.FAULT, ChannelState.INIT)
        quality = AttrQuality.ATTR_INVALID if fault and name in MEASURED else AttrQuality.ATTR_VALID
        if status.state == ChannelState.MOVING and name in MEASURED:
            quality = AttrQuality.ATTR_CHANGING
        return getattr(status, field), status.time or 0.0, quality

    def _run(self, method: str, origin: str, *args) -> None:
        if self.manager is None:
            tango.Except.throw_exception("PowerSupply_NotConfigured", self.get_status(), origin)
        try:
            getattr(self.manager, method)(*args)
        except LimitError as exc:
            _refuse("PowerSupply_LimitExceeded", exc, origin)
        except CommandRefused as exc:
            _refuse("PowerSupply_CommandRefused", exc, origin)

    def _check_permit(self, command_name: str, origin: str) -> None:
        """Ask the interlock; refuse when it says no or cannot be asked (fail safe)."""
        if not self.interlock:
            return
        try:
            proxy = tango.DeviceProxy(self.interlock)
            proxy.set_timeout_millis(2000)
            reason = proxy.command_inout("CheckPermit", [self.get_name(), command_name])
        except tango.DevFailed as exc:
            reason = f"{command_name} refused: the interlock {self.interlock} cannot be asked ({exc.args[0].desc.strip()})"
        if reason:
            tango.Except.throw_exception("PowerSupply_InterlockRefused", reason, origin)

    # ------------------------------------------------------------ attributes
    @attribute(unit="V", format="%.3f", doc="measured output voltage", **events(1e-3))
    def voltage(self) -> float:
        return self._value("voltage", "voltage")

    @attribute(unit="A", format="%.4e", doc="measured output current", **events(1e-9))
    def current(self) -> float:
        return self._value("current", "current")

    @attribute(
        access=AttrWriteType.READ_WRITE,
        unit="V",
        format="%.3f",
        doc="voltage the channel ramps to; refused beyond voltage_min/voltage_max",
        **events(1e-6),
    )
    def voltage_setpoint(self) -> float:
        return self._value("voltage_setpoint", "voltage_setpoint")

    @voltage_setpoint.write
    def voltage_setpoint(self, value: float) -> None:
        self._run("set_voltage_setpoint", "write voltage_setpoint", value)

    @attribute(access=AttrWriteType.READ_WRITE, unit="A", format="%.4e", doc="current limit / compliance", **events(1e-9))
    def current_limit(self) -> float:
        return self._value("current_limit", "current_limit")

    @current_limit.write
    def current_limit(self, value: float) -> None:
        self._run("set_current_limit", "write current_limit", value)

    @attribute(access=AttrWriteType.READ_WRITE, doc="output relay; writing it is On / Off", **events())
    def output(self) -> bool:
        return self._value("output", "output")

    @output.write
    def output(self, value: bool) -> None:
        if value:
            self._check_permit("On", "write output")
        self._run("on" if value else "off", "write output")

    @attribute(access=AttrWriteType.READ_WRITE, unit="V/s", format="%.2f", doc="ramp speed of setpoint changes", **events(1e-6))
    def ramp_rate(self) -> float:
        return self._value("ramp_rate", "ramp_rate")

    @ramp_rate.write
    def ramp_rate(self, value: float) -> None:
        self._run("set_ramp_rate", "write ramp_rate", value)

    @attribute(doc="compliance or fuse trip latched until Reset", **events())
    def tripped(self) -> bool:
        return self._value("tripped", "tripped")

    # -------------------------------------------------------------- commands
    @command
    def On(self) -> None:
        """Close the output and ramp to voltage_setpoint (after the interlock's permit, when one is set)."""
        self._check_permit("On", "On")
        self._run("on", "On")

    @command
    def Off(self) -> None:
        """Ramp down to 0 V, then open the output."""
        self._run("off", "Off")

    @command
    def Reset(self) -> None:
        """Clear a latched trip once the output is down."""
        self._run("reset", "Reset")
