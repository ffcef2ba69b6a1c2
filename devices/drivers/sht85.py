"""A Sensirion SHT85 behind a small SCPI readout over TCP (e.g. a Raspberry Pi at the cold box).

``MEAS:TEMP?`` answers degC, ``MEAS:HUM?`` %RH, ``MEAS:SEQ?`` the number of
the sensor's latest measurement (it does not change while the sensor is
silent), ``*IDN?`` and ``SYST:ERR?`` as usual.
"""

from __future__ import annotations

from devices.drivers import scpi
from devices.drivers.environment import ClimateReading
from devices.drivers.errors import InstrumentError, ProtocolError
from devices.drivers.instrument import ScpiInstrument


class Sht85Driver(ScpiInstrument):
    model = "sht85"

    def verify(self) -> None:
        _, model, _, _ = self.identify()
        if "SHT85" not in model.upper():
            raise InstrumentError(f"expected an SHT85 readout, found {model}")

    def read(self) -> ClimateReading:
        with self.transaction():
            temperature = self.query_float("MEAS:TEMP?")
            humidity = self.query_float("MEAS:HUM?")
            sequence = scpi.parse_float("MEAS:SEQ?", self.query("MEAS:SEQ?"))
        if not 0.0 <= humidity <= 100.0:
            raise ProtocolError("MEAS:HUM?", str(humidity), "a humidity between 0 and 100 %")
        return ClimateReading(temperature, humidity, int(sequence))
