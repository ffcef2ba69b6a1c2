"""A polling component manager: one thread that reads an instrument at a
period, reconnects with backoff after a failure, and reports each
observation to a callback. Subclasses say how to connect, what to read and
what the observation is; they know nothing of Tango."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from devices.drivers.errors import InstrumentError

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 5.0


class CommandRefused(RuntimeError):
    """A command that cannot run in the component's current condition."""


class PollingManager:
    def __init__(self, name: str, poll_period_s: float, on_update: Callable[[object], None] = lambda status: None,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.poll_period_s = poll_period_s
        self.on_update = on_update
        self.clock = clock
        self.lock = threading.RLock()
        self.connected = False
        self.fault = "not connected yet"
        self._backoff = BACKOFF_MIN_S
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.status = None

    # --- hooks
    def connect(self) -> None:
        """Check the instrument is what we expect (raise InstrumentError otherwise)."""

    def poll(self) -> None:
        """Read the instrument (raise InstrumentError on failure)."""
        raise NotImplementedError

    def observe(self):
        """The observation to report, from what poll() stored."""
        raise NotImplementedError

    def disconnect(self) -> None:
        """Drop the link after a failure so that the next connect starts afresh."""

    def busy_period(self) -> float | None:
        """A shorter poll period while the component is busy (e.g. ramping); None: the normal one."""
        return None

    # --- machinery
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"poll-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        self._wake.set()

    def require_link(self) -> None:
        if not self.connected:
            raise CommandRefused(f"the instrument is unreachable: {self.fault}")

    def call(self, function, *args):
        """Run a driver call for a command; a link failure becomes a refusal and a FAULT."""
        try:
            return function(*args)
        except InstrumentError as exc:
            self.lose_link(exc)
            raise CommandRefused(str(exc)) from exc

    def lose_link(self, exc: Exception) -> None:
        if self.connected:
            log.warning("%s: lost the instrument: %s", self.name, exc)
        self.connected = False
        self.fault = str(exc)
        self.disconnect()

    @property
    def retry_period(self) -> float:
        return self._backoff

    def _cycle(self) -> None:
        with self.lock:
            try:
                if not self.connected:
                    self.connect()
                    self.connected = True
                    self._backoff = BACKOFF_MIN_S
                    log.info("%s: instrument reachable", self.name)
                self.poll()
            except InstrumentError as exc:
                self.lose_link(exc)
            self.status = self.observe()
        try:
            self.on_update(self.status)
        except Exception:  # noqa: BLE001 - a consumer bug must not stop polling
            log.exception("%s: update callback failed", self.name)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._cycle()
            if self.connected:
                busy = self.busy_period()
                period = self.poll_period_s if busy is None else min(busy, self.poll_period_s)
            else:
                period = self._backoff
                self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
            if self._wake.wait(period):
                self._wake.clear()
