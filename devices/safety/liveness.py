"""Which of the interlock's input devices have gone silent.

A device that beats (devices/tango_events.HeartbeatDevice) sends a change event at every poll
on the same channel as its readings. When none has come for longer than its bound (several
of its polling periods), its event channel is dead, even if the device still answers calls:
the interlock then counts every input of that device as stale, which is unsafe. Tango knows
nothing here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Liveness:
    def __init__(self, bounds: dict[str, float], clock: Callable[[], float] = time.time):
        self.bounds = dict(bounds)  # device -> seconds without a beat that make it silent
        self.clock = clock
        started = clock()
        self._last = {device: started for device in self.bounds}
        self._lock = threading.Lock()
        self.silent: set[str] = set()

    def restart(self) -> None:
        """Count silence from now (once the subscriptions are made, not from the device's start)."""
        with self._lock:
            now = self.clock()
            self._last = {device: now for device in self.bounds}

    def beat(self, device: str) -> None:
        with self._lock:
            if device in self._last:
                self._last[device] = self.clock()

    def quiet_for(self, device: str) -> float:
        with self._lock:
            return self.clock() - self._last[device]

    def check(self) -> tuple[set[str], set[str]]:
        """(the devices silent now, those that beat again since the last check)."""
        now = self.clock()
        with self._lock:
            silent = {d for d, bound in self.bounds.items() if now - self._last[d] > bound}
        resumed, self.silent = self.silent - silent, silent
        return silent, resumed
