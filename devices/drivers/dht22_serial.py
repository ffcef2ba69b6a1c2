"""The seed lab's Arduino DHT22 sketch, read over a serial line.

The sketch prints, every couple of seconds::

    Humidity: 45.00%  (or: Humidity: 45.00 %)
    Temperature: 23.50 *C

and ``Failed to read from DHT sensor!`` when the sensor does not answer.
Parsing is pure (``parse_line``); the port is anything pyserial opens:
a device path, a pseudo-terminal, ``socket://host:port`` or ``rfc2217://``.
"""

from __future__ import annotations

import re
import threading

from devices.drivers.environment import ClimateReading
from devices.drivers.errors import ProtocolError, TransportError

_TEMPERATURE = re.compile(r"^Temperature:\s*([+-]?\d+(?:\.\d+)?)\s*\*?\s*C$")
_HUMIDITY = re.compile(r"^Humidity:\s*(\d+(?:\.\d+)?)\s*%$")
FAILED = "Failed to read from DHT sensor!"


class SensorReadFailed(ProtocolError):
    def __init__(self, line: str):
        super().__init__("(stream)", line, "a reading: the sketch reports the DHT22 did not answer")


def parse_line(line: str) -> tuple[str, float] | None:
    """('temperature', degC) or ('humidity', %); None for a line the sketch prints for people."""
    text = line.strip()
    if not text:
        return None
    if text == FAILED:
        raise SensorReadFailed(text)
    match = _TEMPERATURE.match(text)
    if match:
        return "temperature", float(match.group(1))
    match = _HUMIDITY.match(text)
    if match:
        value = float(match.group(1))
        if value > 100.0:
            raise ProtocolError("(stream)", text, "a humidity of at most 100 %")
        return "humidity", value
    if text.startswith(("Temperature", "Humidity")):
        raise ProtocolError("(stream)", text, "'Temperature: <number> *C' or 'Humidity: <number>%'")
    return None


class Dht22SerialDriver:
    model = "dht22"

    def __init__(self, port: str, baudrate: int = 9600, timeout_s: float = 0.2):
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self._serial = None
        self._buffer = b""
        self._temperature: float | None = None
        self._humidity: float | None = None
        self._sequence = 0
        self._latest: ClimateReading | None = None
        self._lock = threading.Lock()

    def _open(self):
        if self._serial is None:
            import serial

            try:
                self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=self.timeout_s)
            except (serial.SerialException, OSError, ValueError) as exc:
                raise TransportError(f"cannot open {self.port}: {exc}") from exc
        return self._serial

    def verify(self) -> None:
        self._open()

    def read(self) -> ClimateReading | None:
        """Consume what the sketch printed since the last call; return the newest complete pair."""
        import serial

        with self._lock:
            port = self._open()
            try:
                waiting = port.in_waiting
                data = port.read(waiting or 1)
            except (serial.SerialException, OSError) as exc:
                self.close()
                raise TransportError(f"reading {self.port} failed: {exc}") from exc
            self._buffer += data
            *lines, self._buffer = self._buffer.split(b"\n")
            for raw in lines:
                parsed = parse_line(raw.decode("ascii", "replace"))
                if parsed is None:
                    continue
                name, value = parsed
                if name == "temperature":
                    self._temperature = value
                else:
                    self._humidity = value
                if self._temperature is not None and self._humidity is not None:
                    self._sequence += 1
                    self._latest = ClimateReading(self._temperature, self._humidity, self._sequence)
                    self._temperature = self._humidity = None
            return self._latest

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except OSError:
                pass
            self._serial = None
