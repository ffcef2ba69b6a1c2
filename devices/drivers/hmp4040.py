"""Rohde & Schwarz HMP4040 four-channel low-voltage supply (SCPI).

Every per-channel operation selects the channel (``INST:NSEL n``) and acts on
it inside one transaction, so channels sharing the connection never interleave.
"""

from __future__ import annotations

from devices.drivers import scpi
from devices.drivers.errors import InstrumentError
from devices.drivers.instrument import ScpiInstrument
from devices.drivers.power_supply import ChannelReadback


class Hmp4040Driver(ScpiInstrument):
    model = "hmp4040"
    channels = (1, 2, 3, 4)

    def _check_channel(self, channel: int) -> None:
        if channel not in self.channels:
            raise ValueError(f"HMP4040 has channels 1-4, not {channel}")

    def verify(self) -> None:
        """Check that the instrument on the other end is an HMP4040."""
        manufacturer, model, _, _ = self.identify()
        if "HMP4040" not in model.upper():
            raise InstrumentError(f"expected an HMP4040, found {manufacturer} {model}")

    def select(self, channel: int) -> None:
        self._check_channel(channel)
        self.write(f"INST:NSEL {channel}")

    def read_channel(self, channel: int) -> ChannelReadback:
        with self.transaction():
            self.select(channel)
            return ChannelReadback(
                voltage=self.query_float("MEAS:VOLT?"),
                current=self.query_float("MEAS:CURR?"),
                output=self.query_bool("OUTP:STAT?"),
                tripped=self.query_bool("FUSE:TRIP?"),
                voltage_setpoint=self.query_float("VOLT?"),
                current_limit=self.query_float("CURR?"),
            )

    def set_voltage(self, channel: int, volts: float) -> None:
        with self.transaction():
            self.select(channel)
            self.write(f"VOLT {scpi.format_number(volts)}")
            self.check_errors()

    def set_current_limit(self, channel: int, amps: float) -> None:
        with self.transaction():
            self.select(channel)
            self.write(f"CURR {scpi.format_number(amps)}")
            self.check_errors()

    def set_output(self, channel: int, on: bool) -> None:
        with self.transaction():
            self.select(channel)
            self.write(f"OUTP:STAT {'ON' if on else 'OFF'}")
            self.check_errors()

    def clear_trip(self, channel: int) -> None:
        """A tripped electronic fuse is cleared by switching the channel off."""
        self.set_output(channel, False)
