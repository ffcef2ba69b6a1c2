"""Base of the emulated instruments: SCPI header normalisation, the error
queue, and the slew of an output towards its target."""

from __future__ import annotations

import threading
from collections import deque

from devices.sim.clock import Clock, monotonic_clock

_VOWELS = set("AEIOU")


def short_form(node: str) -> str:
    """SCPI short form of one header node: VOLTage -> VOLT, LEVel -> LEV."""
    node = node.upper()
    suffix = ""
    while node and node[-1].isdigit():
        suffix = node[-1] + suffix
        node = node[:-1]
    if len(node) > 4:
        node = node[:3] if node[3] in _VOWELS else node[:4]
    return node + suffix


def normalise_header(header: str) -> str:
    query = header.endswith("?")
    header = header.rstrip("?").lstrip(":")
    if header.startswith("*"):
        return header.upper() + ("?" if query else "")
    return ":".join(short_form(n) for n in header.split(":") if n) + ("?" if query else "")


def parse_on_off(text: str) -> bool:
    value = text.strip().upper()
    if value in ("1", "ON"):
        return True
    if value in ("0", "OFF"):
        return False
    raise ValueError(value)


class ScpiError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def slew(current: float, target: float, rate: float, dt: float) -> float:
    step = rate * max(dt, 0.0)
    if abs(target - current) <= step:
        return target
    return current + step if target > current else current - step


class ScpiModel:
    """Thread-safe instrument state; ``execute`` handles one program message."""

    identity = "EMULATED,MODEL,0,0.0"

    def __init__(self, clock: Clock = monotonic_clock):
        self.clock = clock
        self.lock = threading.RLock()
        self.errors: deque[tuple[int, str]] = deque(maxlen=32)
        self.setting_commands = 0  # how many setting (non-query) commands were received
        self._last = clock()

    # --- hooks for the concrete instruments
    def advance(self, dt: float) -> None:
        """Move the physics forward by dt seconds."""

    def command(self, header: str, argument: str) -> str | None:
        raise ScpiError(-113, "Undefined header")

    def force_trip(self, channel: int) -> None:
        raise ValueError("this instrument has no trip to inject")

    def set_parameter(self, name: str, values: list[str]) -> None:
        raise ValueError(f"unknown emulator parameter {name!r}")

    def snapshot(self) -> dict:
        return {}

    # --- shared machinery
    def _tick(self) -> None:
        now = self.clock()
        self.advance(now - self._last)
        self._last = now

    def execute(self, message: str) -> str | None:
        """Run one line (commands separated by ';'); return the reply or None."""
        replies = []
        with self.lock:
            self._tick()
            for unit in message.split(";"):
                unit = unit.strip()
                if not unit:
                    continue
                header, _, argument = unit.partition(" ")
                norm = normalise_header(header)
                try:
                    reply = self._common(norm, argument) if norm.startswith("*") else None
                    if reply is None and not norm.startswith("*"):
                        if norm != "SYST:ERR?" and not norm.endswith("?"):
                            self.setting_commands += 1
                        reply = self._system(norm) or self.command(norm, argument.strip())
                except ScpiError as exc:
                    self.errors.append((exc.code, exc.message))
                    reply = None
                except ValueError:
                    self.errors.append((-224, "Illegal parameter value"))
                    reply = None
                if reply is not None:
                    replies.append(reply)
        return ";".join(replies) if replies else None

    def _common(self, header: str, argument: str) -> str | None:
        if header == "*IDN?":
            return self.identity
        if header == "*CLS":
            self.errors.clear()
            return None
        if header == "*RST":
            self.reset()
            return None
        if header == "*OPC?":
            return "1"
        raise ScpiError(-113, "Undefined header")

    def _system(self, header: str) -> str | None:
        if header == "SYST:ERR?":
            if self.errors:
                code, message = self.errors.popleft()
                return f'{code},"{message}"'
            return '0,"No error"'
        return None

    def reset(self) -> None:
        """*RST: back to power-on defaults."""
