"""Emulated R&S HMP4040: four channels, each driving a resistive load.

Readback follows the set voltage at the supply's slew; above the current
limit the channel goes constant-current; an injected trip opens the output
as the electronic fuse does and FUSE:TRIP? reports it until the channel is
switched again.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.sim.clock import Clock, monotonic_clock
from devices.sim.scpi_model import ScpiError, ScpiModel, parse_on_off, slew

MAX_VOLTS = 32.05
MAX_AMPS = 10.0


@dataclass
class _Channel:
    volts: float = 0.0
    amps: float = 0.1
    output: bool = False
    tripped: bool = False
    v_out: float = 0.0
    load_ohm: float = 10.0

    @property
    def current(self) -> float:
        if self.load_ohm <= 0:
            return self.amps if self.output else 0.0
        return min(self.v_out / self.load_ohm, self.amps)

    @property
    def voltage(self) -> float:
        if self.load_ohm > 0 and self.v_out / self.load_ohm > self.amps:
            return self.amps * self.load_ohm  # constant-current mode
        return self.v_out


class Hmp4040Model(ScpiModel):
    identity = "ROHDE&SCHWARZ,HMP4040,EMU0001,HW50020001/SW2.70"

    def __init__(self, clock: Clock = monotonic_clock, slew_v_per_s: float = 100.0):
        super().__init__(clock)
        self.slew = slew_v_per_s
        self.selected = 1
        self.ch = {n: _Channel() for n in (1, 2, 3, 4)}

    def reset(self) -> None:
        for channel in self.ch.values():
            load = channel.load_ohm
            channel.__init__(load_ohm=load)
        self.selected = 1

    def advance(self, dt: float) -> None:
        for channel in self.ch.values():
            target = channel.volts if channel.output else 0.0
            channel.v_out = slew(channel.v_out, target, self.slew, dt)

    def command(self, header: str, argument: str) -> str | None:
        channel = self.ch[self.selected]
        if header == "INST:NSEL":
            number = int(argument)
            if number not in self.ch:
                raise ScpiError(-222, "Data out of range")
            self.selected = number
        elif header in ("INST", "INST:SEL"):
            name = argument.upper()
            if name not in ("OUT1", "OUT2", "OUT3", "OUT4", "OUTP1", "OUTP2", "OUTP3", "OUTP4"):
                raise ScpiError(-224, "Illegal parameter value")
            self.selected = int(name[-1])
        elif header in ("INST:NSEL?", "INST?", "INST:SEL?"):
            return str(self.selected) if header == "INST:NSEL?" else f"OUTP{self.selected}"
        elif header in ("VOLT", "SOUR:VOLT", "VOLT:LEV"):
            value = float(argument)
            if not 0.0 <= value <= MAX_VOLTS:
                raise ScpiError(-222, "Data out of range")
            channel.volts = value
        elif header in ("VOLT?", "SOUR:VOLT?", "VOLT:LEV?"):
            return f"{channel.volts:.4f}"
        elif header in ("CURR", "SOUR:CURR", "CURR:LEV"):
            value = float(argument)
            if not 0.0 <= value <= MAX_AMPS:
                raise ScpiError(-222, "Data out of range")
            channel.amps = value
        elif header in ("CURR?", "SOUR:CURR?", "CURR:LEV?"):
            return f"{channel.amps:.4f}"
        elif header in ("OUTP", "OUTP:STAT"):
            channel.output = parse_on_off(argument)
            channel.tripped = False
        elif header in ("OUTP?", "OUTP:STAT?"):
            return "1" if channel.output else "0"
        elif header in ("OUTP:SEL", "OUTP:GEN"):
            parse_on_off(argument)  # accepted; this emulator has one switch per channel
        elif header == "MEAS:VOLT?":
            return f"{channel.voltage:.4f}"
        elif header == "MEAS:CURR?":
            return f"{channel.current:.4f}"
        elif header == "FUSE:TRIP?":
            return "1" if channel.tripped else "0"
        else:
            raise ScpiError(-113, "Undefined header")
        return None

    def force_trip(self, channel: int) -> None:
        with self.lock:
            self._tick()
            target = self.ch[channel]
            target.tripped = True
            target.output = False

    def set_parameter(self, name: str, values: list[str]) -> None:
        with self.lock:
            if name == "load" and len(values) == 2:
                self.ch[int(values[0])].load_ohm = float(values[1])
            else:
                raise ValueError(f"unknown HMP4040 parameter {name!r}; use: load CHANNEL OHMS")

    def snapshot(self) -> dict:
        with self.lock:
            self._tick()
            return {
                "setting_commands": self.setting_commands,
                "channels": {
                    n: {
                        "volts": c.volts,
                        "amps": c.amps,
                        "output": c.output,
                        "tripped": c.tripped,
                        "voltage": c.voltage,
                        "current": c.current,
                        "load_ohm": c.load_ohm,
                    }
                    for n, c in self.ch.items()
                },
            }
