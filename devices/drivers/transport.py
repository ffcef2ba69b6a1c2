"""Transports: how SCPI lines reach an instrument.

A transport only moves text lines. ``VisaTransport`` covers TCPIP SOCKET,
serial (ASRL) and GPIB resources through pyvisa with the pure-Python
pyvisa-py backend; tests plug in their own object with the same three methods.
"""

from __future__ import annotations

import threading
from typing import Protocol

from devices.drivers.errors import TransportError


class Transport(Protocol):
    def write(self, line: str) -> None: ...

    def query(self, line: str) -> str: ...

    def close(self) -> None: ...


class VisaTransport:
    """A pyvisa message-based resource, opened lazily and reopened after a failure."""

    def __init__(self, resource: str, timeout_s: float = 2.0, backend: str = "@py",
                 write_termination: str = "\n", read_termination: str = "\n"):
        self.resource = resource
        self.timeout_s = timeout_s
        self.backend = backend
        self.write_termination = write_termination
        self.read_termination = read_termination
        self._manager = None
        self._handle = None
        self._lock = threading.Lock()

    def _open(self):
        if self._handle is not None:
            return self._handle
        import pyvisa

        try:
            if self._manager is None:
                self._manager = pyvisa.ResourceManager(self.backend)
            handle = self._manager.open_resource(self.resource)
            handle.read_termination = self.read_termination
            handle.write_termination = self.write_termination
            handle.timeout = int(self.timeout_s * 1000)
        except (pyvisa.Error, OSError, ValueError) as exc:
            raise TransportError(f"cannot open {self.resource}: {exc}") from exc
        self._handle = handle
        return handle

    def _fail(self, action: str, line: str, exc: Exception) -> TransportError:
        self._drop()
        return TransportError(f"{action} {line!r} on {self.resource} failed: {exc}")

    def _drop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - the link is already broken
                pass

    def write(self, line: str) -> None:
        import pyvisa

        with self._lock:
            handle = self._open()
            try:
                handle.write(line)
            except (pyvisa.Error, OSError) as exc:
                raise self._fail("write", line, exc) from exc

    def query(self, line: str) -> str:
        import pyvisa

        with self._lock:
            handle = self._open()
            try:
                reply = handle.query(line)
            except (pyvisa.Error, OSError, UnicodeDecodeError) as exc:
                raise self._fail("query", line, exc) from exc
            return reply

    def close(self) -> None:
        with self._lock:
            self._drop()
            if self._manager is not None:
                try:
                    self._manager.close()
                except Exception:  # noqa: BLE001
                    pass
                self._manager = None
