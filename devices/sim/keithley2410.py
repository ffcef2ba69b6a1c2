"""Emulated Keithley 2410 SourceMeter biasing a silicon sensor.

The output slews to the source level; the current comes from the sensor
model at the box temperature; above the compliance the current is clamped
and ``:SENS:CURR:PROT:TRIP?`` answers 1. An injected trip holds the
instrument in compliance until the output is switched off.
"""

from __future__ import annotations

from devices.sim.clock import Clock, monotonic_clock
from devices.sim.scpi_model import ScpiError, ScpiModel, parse_on_off, slew
from devices.sim.sensor import SiliconSensor

MAX_VOLTS = 1100.0
MAX_AMPS = 1.05


class Keithley2410Model(ScpiModel):
    identity = "KEITHLEY INSTRUMENTS INC.,MODEL 2410,EMU0002,C34 Sep 21 2016 15:30:00/A02  /K/J"

    def __init__(
        self,
        clock: Clock = monotonic_clock,
        slew_v_per_s: float = 500.0,
        sensor: SiliconSensor | None = None,
        temperature_c: float = 20.0,
    ):
        super().__init__(clock)
        self.slew = slew_v_per_s
        self.sensor = sensor or SiliconSensor()
        self.temperature_c = temperature_c
        self.reset()

    def reset(self) -> None:
        self.level = 0.0
        self.compliance = 105e-6
        self.output = False
        self.v_out = 0.0
        self.forced_trip = False
        self.elements = "VOLT,CURR,RES,TIME,STAT"
        self.started = self.clock()

    def advance(self, dt: float) -> None:
        self.v_out = slew(self.v_out, self.level if self.output else 0.0, self.slew, dt)

    @property
    def in_compliance(self) -> bool:
        if not self.output:
            return False
        return self.forced_trip or abs(self.sensor.current(self.v_out, self.temperature_c)) >= self.compliance

    @property
    def current(self) -> float:
        if not self.output:
            return 0.0
        amps = self.sensor.current(self.v_out, self.temperature_c)
        if self.in_compliance:
            return self.compliance if amps >= 0 else -self.compliance
        return amps

    def _reading(self) -> str:
        values = {
            "VOLT": f"{self.v_out:+.6E}",
            "CURR": f"{self.current:+.6E}",
            "RES": "+9.910000E+37",
            "TIME": f"{self.clock() - self.started:+.6E}",
            "STAT": f"{(8 if self.in_compliance else 0) + 1024:+.6E}",
        }
        return ",".join(values[e] for e in self.elements.split(","))

    def command(self, header: str, argument: str) -> str | None:
        if header in ("SOUR:VOLT:LEV", "SOUR:VOLT", "SOUR:VOLT:LEV:IMM:AMPL"):
            value = float(argument)
            if abs(value) > MAX_VOLTS:
                raise ScpiError(-222, "Data out of range")
            self.level = value
        elif header in ("SOUR:VOLT:LEV?", "SOUR:VOLT?", "SOUR:VOLT:LEV:IMM:AMPL?"):
            return f"{self.level:+.6E}"
        elif header in ("SENS:CURR:PROT", "SENS:CURR:PROT:LEV", "CURR:PROT"):
            value = float(argument)
            if not 0.0 < value <= MAX_AMPS:
                raise ScpiError(-222, "Data out of range")
            self.compliance = value
        elif header in ("SENS:CURR:PROT?", "SENS:CURR:PROT:LEV?", "CURR:PROT?"):
            return f"{self.compliance:+.6E}"
        elif header in ("SENS:CURR:PROT:TRIP?", "CURR:PROT:TRIP?"):
            return "1" if self.in_compliance else "0"
        elif header in ("OUTP", "OUTP:STAT"):
            self.output = parse_on_off(argument)
            if not self.output:
                self.forced_trip = False
        elif header in ("OUTP?", "OUTP:STAT?"):
            return "1" if self.output else "0"
        elif header in ("READ?", "MEAS?", "MEAS:CURR?", "MEAS:VOLT?"):
            if not self.output:
                self.errors.append((803, "Output disabled"))
                return None
            return self._reading()
        elif header == "SOUR:FUNC":
            if argument.upper().strip('"') not in ("VOLT", "VOLTAGE"):
                raise ScpiError(-221, "Settings conflict")
        elif header == "SOUR:FUNC?":
            return "VOLT"
        elif header in ("SENS:FUNC", "SENS:FUNC:ON"):
            if "CURR" not in argument.upper():
                raise ScpiError(-221, "Settings conflict")
        elif header == "FORM:ELEM":
            elements = [e.strip().upper()[:4] for e in argument.split(",")]
            elements = ["RES" if e == "RESI" else e for e in elements]
            if not elements or any(e not in ("VOLT", "CURR", "RES", "TIME", "STAT") for e in elements):
                raise ScpiError(-224, "Illegal parameter value")
            self.elements = ",".join(elements)
        else:
            raise ScpiError(-113, "Undefined header")
        return None

    def force_trip(self, channel: int) -> None:
        with self.lock:
            self._tick()
            if channel != 1:
                raise ValueError("the Keithley 2410 has only channel 1")
            self.forced_trip = True

    def set_parameter(self, name: str, values: list[str]) -> None:
        with self.lock:
            self._tick()
            if name == "temperature" and len(values) == 1:
                self.temperature_c = float(values[0])
            elif name == "breakdown" and len(values) == 1:
                volts = abs(float(values[0]))
                self.sensor.breakdown_v = volts or None  # 0: no breakdown
            else:
                raise ValueError(f"unknown Keithley 2410 parameter {name!r}; use: temperature CELSIUS, breakdown VOLTS")

    def snapshot(self) -> dict:
        with self.lock:
            self._tick()
            return {
                "setting_commands": self.setting_commands,
                "level": self.level,
                "compliance": self.compliance,
                "output": self.output,
                "voltage": self.v_out,
                "current": self.current,
                "in_compliance": self.in_compliance,
                "temperature_c": self.temperature_c,
            }
