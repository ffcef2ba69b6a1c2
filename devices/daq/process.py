"""One Ph2_ACF process, supervised: started on a pseudo-terminal in its own process group,
its log parsed into progress as it comes, stopped by SIGINT -> SIGTERM -> SIGKILL (no Tango).

Through a pipe, runCalibration's stdio is block-buffered and progress would
arrive in lumps at the end; a pty makes it line-buffered, as on a console.
A watchdog aborts a run that exceeds its total time or prints nothing for
the inactivity time (a hang in firmware).
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from devices.daq.ph2acf_log import parse_line

SIGNAL_STEPS = ((signal.SIGINT, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0))


@dataclass(frozen=True)
class Progress:
    calibration: str
    steps_total: int
    run_number: int | None = None
    step: str = "configuring"
    steps_done: int = 0
    progress: float = 0.0  # %
    eta: float = -1.0  # s left; -1 unknown
    last_message: str = ""
    warnings: int = 0
    errors: int = 0
    result_path: str = ""
    failure: str | None = None  # what a known failure signature says
    halted: bool = False
    steps: tuple[dict, ...] = ()  # {name, start, end}: UTC epoch seconds


@dataclass(frozen=True)
class Outcome:
    status: str  # done, failed, aborted, timeout, crashed
    reason: str
    exit_code: int | None
    progress: Progress
    started: float
    ended: float


@dataclass
class _Watch:
    total_s: float
    inactivity_s: float
    last_output: float = field(default_factory=time.monotonic)


class CalibrationProcess:
    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], calibration: str, steps_total: int,
                 on_update: Callable[[Progress], None], log_path: Path, total_timeout_s: float = 7200.0,
                 inactivity_timeout_s: float = 600.0, expected_s: float | None = None,
                 run_number: int | None = None):
        self.argv, self.cwd, self.env = argv, cwd, env
        self.on_update = on_update
        self.log_path = log_path
        self.expected_s = expected_s
        self.progress = Progress(calibration, steps_total, run_number=run_number)  # the expected number
        self._watch = _Watch(total_timeout_s, inactivity_timeout_s)
        self._lock = threading.Lock()
        self._abort: tuple[str, str] | None = None  # (status, reason)
        self._done = threading.Event()
        self.outcome: Outcome | None = None
        self.process: subprocess.Popen | None = None
        self.started = 0.0

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO  # the child's stdin is not the pty: nothing to echo
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=slave, stderr=slave, start_new_session=True, close_fds=True)
        finally:
            os.close(slave)
        self.started = time.time()
        self._watch.last_output = time.monotonic()
        threading.Thread(target=self._read, args=(master,), name="ph2acf-reader", daemon=True).start()
        threading.Thread(target=self._watchdog, name="ph2acf-watchdog", daemon=True).start()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    # ----------------------------------------------------------------- output
    def _read(self, master: int) -> None:
        pending = b""
        with self.log_path.open("ab") as log:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer of the pty is gone
                    break
                if not data:
                    break
                log.write(data)
                log.flush()
                self._watch.last_output = time.monotonic()
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._line(line.decode("utf-8", "replace"))
            if pending:
                self._line(pending.decode("utf-8", "replace"))
        os.close(master)
        self._finish()

    def _line(self, raw: str) -> None:
        event = parse_line(raw)
        if event.kind == "line" and not event.text:
            return
        now = time.time()
        p = self.progress
        changes: dict = {"last_message": event.text[:512]} if event.kind != "line" or event.level else {}
        if event.kind == "run_started":
            changes.update(run_number=event.value, step="running")
        elif event.kind == "step_started":
            changes.update(step=event.value, steps=(*p.steps, {"name": event.value, "start": now, "end": None}))
        elif event.kind == "step_done":
            steps = tuple(dict(s, end=now) if s["name"] == event.value and s["end"] is None else s for s in p.steps)
            done = min(p.steps_done + 1, p.steps_total)
            changes.update(steps=steps, steps_done=done, progress=round(100.0 * done / max(p.steps_total, 1), 1))
            elapsed = now - self.started
            changes["eta"] = round(elapsed * (p.steps_total - done) / done, 1)
        elif event.kind == "result_file":
            changes.update(result_path=str(self.cwd / event.value), step="closing")
        elif event.kind == "halted":
            changes.update(halted=True, step="halted")
        elif event.kind == "warning":
            changes.update(warnings=p.warnings + 1)
        elif event.kind == "error":
            changes.update(errors=p.errors + 1)
        elif event.kind == "failure":
            changes.update(errors=p.errors + 1, failure=p.failure or str(event.value))
        if p.steps_done == 0 and "eta" not in changes and self.expected_s:
            changes["eta"] = round(max(self.expected_s - (now - self.started), 0.0), 1)
        if changes:
            with self._lock:
                self.progress = replace(self.progress, **changes)
            self.on_update(self.progress)

    # --------------------------------------------------------------- watchdog
    def _watchdog(self) -> None:
        while not self._done.wait(0.2):
            if self.process.poll() is not None:
                continue
            now = time.monotonic()
            if time.time() - self.started > self._watch.total_s:
                self.abort(f"timeout: the run took longer than {self._watch.total_s:g} s", status="timeout")
            elif now - self._watch.last_output > self._watch.inactivity_s:
                self.abort(f"timeout: no output for {self._watch.inactivity_s:g} s (hung)", status="timeout")

    def abort(self, reason: str, status: str = "aborted") -> None:
        """Stop the run: SIGINT, then SIGTERM, then SIGKILL to the whole process group."""
        with self._lock:
            if self._abort is not None or self.process is None or self.process.poll() is not None:
                return
            self._abort = (status, reason)
        threading.Thread(target=self._escalate, name="ph2acf-abort", daemon=True).start()

    def _escalate(self) -> None:
        for sig, grace in SIGNAL_STEPS:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue

    # ----------------------------------------------------------------- finish
    def _finish(self) -> None:
        code = self.process.wait()
        try:  # whatever the run left in its group (the group is the run's own session)
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p = self.progress
        if self._abort is not None:
            status, reason = self._abort
        elif code == 0 and p.result_path and p.halted:
            status, reason = "done", "done"
        elif code < 0:
            status, reason = "crashed", f"killed by {signal.Signals(-code).name}" + (f": {p.failure}" if p.failure else "")
        else:
            status, reason = "failed", p.failure or f"exit code {code}" + (f": {p.last_message}" if p.last_message else "")
        if p.failure and status == "crashed" and code == -signal.SIGABRT:
            status = "failed"  # an uncaught exception (std::terminate) after a known failure
        self.outcome = Outcome(status, reason, code, p, self.started, time.time())
        self._done.set()

    def wait(self, timeout: float | None = None) -> Outcome | None:
        self._done.wait(timeout)
        return self.outcome
