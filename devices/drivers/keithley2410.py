"""Keithley 2410 high-voltage SourceMeter (SCPI, 2400 series command set).

Sources voltage and measures current with a current compliance. ``:READ?``
answers ``V,I,...`` (the first two elements are used, whatever ``:FORM:ELEM``
adds after them). With the output off the instrument does not measure, so
the readback reports 0 V / 0 A without triggering a reading.
"""

from __future__ import annotations

from devices.drivers import scpi
from devices.drivers.errors import InstrumentError
from devices.drivers.instrument import ScpiInstrument
from devices.drivers.power_supply import ChannelReadback


class Keithley2410Driver(ScpiInstrument):
    model = "keithley2410"
    channels = (1,)

    def _check_channel(self, channel: int) -> None:
        if channel != 1:
            raise ValueError(f"the Keithley 2410 has one output (channel 1), not {channel}")

    def verify(self) -> None:
        """Refuse to drive an SMU that is not sourcing voltage (never reconfigure it silently)."""
        function = self.query(":SOUR:FUNC?").strip().strip('"').upper()
        if function not in ("VOLT", "VOLTAGE"):
            raise InstrumentError(f"the SMU sources {function!r}, not VOLT: set :SOUR:FUNC VOLT on it first")

    def configure(self) -> None:
        """Voltage source, current measurement, V and I in the reading."""
        with self.transaction():
            self.write(":SOUR:FUNC VOLT")
            self.write(':SENS:FUNC "CURR"')
            self.write(":FORM:ELEM VOLT,CURR")
            self.check_errors()

    def read_channel(self, channel: int) -> ChannelReadback:
        self._check_channel(channel)
        with self.transaction():
            output = self.query_bool(":OUTP?")
            if output:
                volts, amps = scpi.parse_floats(":READ?", self.query(":READ?"), 2)
            else:
                volts, amps = 0.0, 0.0
            return ChannelReadback(
                voltage=volts,
                current=amps,
                output=output,
                tripped=self.query_bool(":SENS:CURR:PROT:TRIP?"),
                voltage_setpoint=self.query_float(":SOUR:VOLT:LEV?"),
                current_limit=self.query_float(":SENS:CURR:PROT?"),
            )

    def set_voltage(self, channel: int, volts: float) -> None:
        self._check_channel(channel)
        with self.transaction():
            self.write(f":SOUR:VOLT:LEV {scpi.format_number(volts)}")
            self.check_errors()

    def set_current_limit(self, channel: int, amps: float) -> None:
        self._check_channel(channel)
        with self.transaction():
            self.write(f":SENS:CURR:PROT {scpi.format_number(amps)}")
            self.check_errors()

    def set_output(self, channel: int, on: bool) -> None:
        self._check_channel(channel)
        with self.transaction():
            self.write(f":OUTP {'ON' if on else 'OFF'}")
            self.check_errors()

    def clear_trip(self, channel: int) -> None:
        """Compliance clears once the output is off; open it to be sure."""
        self.set_output(channel, False)
