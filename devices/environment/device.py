"""Tango adapter of a cold-box temperature/humidity sensor."""

from __future__ import annotations

from tango.server import attribute, device_property

from devices.environment.manager import ClimateStatus, EnvironmentSensorManager
from devices.models import open_driver
from devices.tango_events import HeartbeatDevice, events, publish_state, push, quality, start_manager, stop_manager

FIELDS = ("temperature", "humidity", "dew_point", "dew_point_margin")


class EnvironmentSensor(HeartbeatDevice):
    """Temperature, humidity and dew point of a cold box (DHT22 sketch on serial, or SHT85 readout)."""

    model = device_property(dtype=str, doc="sensor model: dht22 (Arduino sketch, serial) or sht85 (SCPI readout)")
    resource = device_property(dtype=str, doc="serial port / pyserial URL (dht22) or VISA resource (sht85)")
    timeout = device_property(dtype=float, default_value=2.0, doc="reply timeout, s")
    poll_period = device_property(dtype=float, default_value=1.0, doc="polling period, s")
    stale_after = device_property(dtype=float, default_value=10.0, doc="no new measurement for this long: FAULT, s")
    stuck_readings = device_property(dtype=int, default_value=0, doc="identical readings in a row that count as stuck (0: off)")

    def init_device(self) -> None:
        super().init_device()
        self._status = ClimateStatus("INIT", "waiting for the first reading", 0.0)
        self.manager = start_manager(self, lambda: EnvironmentSensorManager(
            open_driver(self.model, self.resource, self.timeout, "EnvironmentSensor"), self.poll_period, self.stale_after,
            self.stuck_readings, on_update=self._on_update, name=self.get_name()))

    def delete_device(self) -> None:
        stop_manager(self.manager)
        self.manager = None

    def _on_update(self, status: ClimateStatus) -> None:
        self.beat()
        previous, self._status = self._status, status
        publish_state(self, status.state, status.status, previous.status)
        if status.time:
            for name in FIELDS:
                push(self, name, *self._value(name))

    def _value(self, name: str):
        status = self._status
        value = status.margin if name == "dew_point_margin" else getattr(status, name)
        return value, status.time or 0.0, quality(status.valid)

    @attribute(unit="degC", format="%.2f", doc="air temperature in the cold box", **events(0.01))
    def temperature(self) -> float:
        return self._value("temperature")

    @attribute(unit="%", format="%.1f", doc="relative humidity", **events(0.05))
    def humidity(self) -> float:
        return self._value("humidity")

    @attribute(unit="degC", format="%.2f", doc="dew point (Magnus formula)", **events(0.01))
    def dew_point(self) -> float:
        return self._value("dew_point")

    @attribute(unit="K", format="%.2f", doc="temperature - dew_point: how far from condensing", **events(0.01))
    def dew_point_margin(self) -> float:
        return self._value("dew_point_margin")
