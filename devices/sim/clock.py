"""Injectable time for the emulators' physics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


def monotonic_clock() -> float:
    return time.monotonic()


class ManualClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start: float = 0.0):
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
