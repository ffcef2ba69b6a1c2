"""Emulated cold-box sensors around one shared ColdBox model: an SHT85 SCPI readout and the
DHT22 Arduino sketch on a pseudo-terminal (the Julabo circulator is in devices/sim/julabo.py)."""

from __future__ import annotations

import os
import pty
import threading
import time
import tty
from pathlib import Path

from devices.sim.clock import Clock, monotonic_clock
from devices.sim.coldbox import ColdBox
from devices.sim.scpi_model import ScpiError, ScpiModel


class Sht85Model(ScpiModel):
    identity = "TRACKER-DCS,SHT85 READOUT,EMU0003,1.0"

    def __init__(self, box: ColdBox, clock: Clock = monotonic_clock):
        super().__init__(clock)
        self.box = box

    def command(self, header: str, argument: str) -> str | None:
        if header in ("MEAS:TEMP?", "MEAS:HUM?", "MEAS:SEQ?"):
            temperature, humidity, sequence = self.box.sample()
            return {"MEAS:TEMP?": f"{temperature:.2f}", "MEAS:HUM?": f"{humidity:.2f}",
                    "MEAS:SEQ?": str(sequence)}[header]
        raise ScpiError(-113, "Undefined header")

    def set_parameter(self, name: str, values: list[str]) -> None:
        self.box.set_parameter(name, values)

    def snapshot(self) -> dict:
        return {"setting_commands": self.setting_commands, **self.box.snapshot()}


class Dht22Pty:
    """The Arduino sketch: prints humidity and temperature lines every period on a pseudo-terminal.

    ``link`` (a path) is made a symlink to the terminal, so a station file can name a fixed port.
    """

    def __init__(self, box: ColdBox, link: Path | None = None, period_s: float = 1.0):
        self.box = box
        self.period_s = period_s
        self.master, slave = pty.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave  # keep it open: the pty lives while one end is open
        self.link = Path(link) if link else None
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            self.link.unlink(missing_ok=True)
            self.link.symlink_to(self.port)
        self.failing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dht22-pty", daemon=True)

    def start(self) -> Dht22Pty:
        self._thread.start()
        return self

    def _run(self) -> None:
        last = -1
        while not self._stop.wait(self.period_s):
            temperature, humidity, sequence = self.box.sample()
            if sequence == last and not self.failing:
                continue  # dropout: the sketch prints nothing new
            last = sequence
            text = (FAILED_LINE if self.failing else f"Humidity: {humidity:.2f}%\r\nTemperature: {temperature:.2f} *C\r\n")
            try:
                os.write(self.master, text.encode())
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        if self.link is not None:
            self.link.unlink(missing_ok=True)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


FAILED_LINE = "Failed to read from DHT sensor!\r\n"


class Dht22Control:
    """What the control port of a DHT22 emulator drives: the shared box, and the sketch's failure line."""

    def __init__(self, sketch: Dht22Pty):
        self.sketch = sketch

    def force_trip(self, channel: int) -> None:
        raise ValueError("a DHT22 has no trip; use: set failing 1, set dropout 1, set stuck 1, set spikes N")

    def set_parameter(self, name: str, values: list[str]) -> None:
        if name == "failing" and len(values) == 1:
            self.sketch.failing = values[0] in ("1", "on", "true")
        else:
            self.sketch.box.set_parameter(name, values)

    def snapshot(self) -> dict:
        return {"port": self.sketch.port, "failing": self.sketch.failing, **self.sketch.box.snapshot()}


def wait_port(path: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.02)
