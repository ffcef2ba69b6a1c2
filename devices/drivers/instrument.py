"""Common plumbing of SCPI instrument drivers: one lock per connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from devices.drivers import scpi
from devices.drivers.errors import InstrumentReportedError
from devices.drivers.transport import Transport


class ScpiInstrument:
    """Serialises every transaction on one transport.

    Channels of one instrument share one driver object; each public method of
    a driver is one atomic transaction (select channel + query, say).
    """

    def __init__(self, transport: Transport):
        self.transport = transport
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            yield

    def write(self, line: str) -> None:
        with self._lock:
            self.transport.write(line)

    def query(self, line: str) -> str:
        with self._lock:
            return self.transport.query(line)

    def query_float(self, line: str) -> float:
        return scpi.parse_float(line, self.query(line))

    def query_bool(self, line: str) -> bool:
        return scpi.parse_bool(line, self.query(line))

    def identify(self) -> tuple[str, str, str, str]:
        return scpi.parse_identity("*IDN?", self.query("*IDN?"))

    def next_error(self) -> tuple[int, str]:
        return scpi.parse_error("SYST:ERR?", self.query("SYST:ERR?"))

    def drain_errors(self) -> list[tuple[int, str]]:
        """Read (and so clear) the error queue without changing any setting."""
        with self._lock:
            errors = []
            for _ in range(32):
                code, message = self.next_error()
                if code == 0:
                    break
                errors.append((code, message))
            return errors

    def check_errors(self) -> None:
        """Raise the first error in the instrument's queue, after draining it."""
        errors = self.drain_errors()
        if errors:
            raise InstrumentReportedError(*errors[0])

    def close(self) -> None:
        self.transport.close()
