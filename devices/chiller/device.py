"""Tango adapter of the cold box's circulator."""

from __future__ import annotations

import tango
from tango import AttrWriteType
from tango.server import attribute, command, device_property

from devices.chiller.manager import ChillerManager, ChillerStatus, SetpointRefused
from devices.models import open_driver
from devices.polling import CommandRefused
from devices.tango_events import HeartbeatDevice, events, publish_state, push, quality, start_manager, stop_manager


class Chiller(HeartbeatDevice):
    """A Julabo circulator cooling the cold box: setpoint within limits, Start/Stop, bath temperature."""

    model = device_property(dtype=str, doc="circulator model: julabo")
    resource = device_property(dtype=str, doc="VISA resource (serial or TCP bridge)")
    timeout = device_property(dtype=float, default_value=2.0, doc="reply timeout, s")
    poll_period = device_property(dtype=float, default_value=1.0, doc="polling period, s")
    setpoint_min = device_property(dtype=float, default_value=-30.0, doc="lowest setpoint accepted, degC")
    setpoint_max = device_property(dtype=float, default_value=40.0, doc="highest setpoint accepted, degC")

    def init_device(self) -> None:
        super().init_device()
        self._status = ChillerStatus("INIT", "connecting", 0.0)
        self.manager = start_manager(self, lambda: ChillerManager(
            open_driver(self.model, self.resource, self.timeout, "Chiller"), self.setpoint_min, self.setpoint_max,
            self.poll_period, self._on_update, self.get_name()))

    def delete_device(self) -> None:
        stop_manager(self.manager)
        self.manager = None

    def _on_update(self, status: ChillerStatus) -> None:
        self.beat()
        previous, self._status = self._status, status
        publish_state(self, status.state, status.status, previous.status)
        if status.valid:
            for name in ("setpoint", "bath_temperature", "running"):
                push(self, name, *self._value(name))

    def _value(self, name: str):
        status = self._status
        return getattr(status, name), status.time or 0.0, quality(status.valid)

    def _run(self, method: str, origin: str, *args) -> None:
        if self.manager is None:
            tango.Except.throw_exception("Chiller_NotConfigured", self.get_status(), origin)
        try:
            getattr(self.manager, method)(*args)
        except SetpointRefused as exc:
            tango.Except.throw_exception("Chiller_LimitExceeded", str(exc), origin)
        except CommandRefused as exc:
            tango.Except.throw_exception("Chiller_CommandRefused", str(exc), origin)

    @attribute(access=AttrWriteType.READ_WRITE, unit="degC", format="%.2f",
               doc="bath setpoint; refused outside setpoint_min/setpoint_max", **events(0.01))
    def setpoint(self) -> float:
        return self._value("setpoint")

    @setpoint.write
    def setpoint(self, value: float) -> None:
        self._run("set_setpoint", "write setpoint", value)

    @attribute(unit="degC", format="%.2f", doc="bath temperature", **events(0.01))
    def bath_temperature(self) -> float:
        return self._value("bath_temperature")

    @attribute(doc="the circulator is running", **events())
    def running(self) -> bool:
        return self._value("running")

    @command
    def Start(self) -> None:
        """Start circulating and cooling to the setpoint."""
        self._run("start_circulation", "Start")

    @command
    def Stop(self) -> None:
        """Stop the circulator."""
        self._run("stop_circulation", "Stop")
