"""A burn-in step list, run in order, each step recorded, resumed after a crash (no Tango).

Steps (the station file's ``steps``, as JSON in the device property)::

    {"do": "power_on", "hv_volts": 200}                 # LV on, LV stable, HV ramp (the module's sequence)
    {"do": "wait", "attribute": "demo/env/coldbox/temperature", "below": 25, "stable_s": 30, "timeout_s": 1800}
    {"do": "calibration", "tag": "2SquickTest"}         # a Ph2AcfRunner run, waited for
    {"do": "iv", "request": "quick_test"}               # an IvScanner scan, waited for
    {"do": "power_off"}

The session (its steps, which one runs, each step's outcome and run) is
written to a JSON file after every change; a device that starts and finds a
session that was running resumes it at the step that was interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

log = logging.getLogger(__name__)


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PowerOn(_Step):
    do: Literal["power_on"]
    hv_volts: float | None = Field(default=None, ge=0, le=1100)


class PowerOff(_Step):
    do: Literal["power_off"]


class Wait(_Step):
    do: Literal["wait"]
    attribute: str = Field(pattern=r"^[^/\s]+/[^/\s]+/[^/\s]+/[^/\s]+$")
    below: float | None = None
    above: float | None = None
    stable_s: float = Field(default=0.0, ge=0, le=86400)
    timeout_s: float = Field(default=3600.0, gt=0, le=7 * 86400)

    @model_validator(mode="after")
    def _bound(self) -> Wait:
        if self.below is None and self.above is None:
            raise ValueError("a wait needs 'below' and/or 'above'")
        return self


class Calibration(_Step):
    do: Literal["calibration"]
    tag: str


class Iv(_Step):
    do: Literal["iv"]
    request: str = "quick_test"


Step = Annotated[PowerOn | PowerOff | Wait | Calibration | Iv, Field(discriminator="do")]
STEPS = TypeAdapter(list[Step])


def parse_steps(text: str) -> list:
    try:
        steps = STEPS.validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"burn-in steps[{where}]: {first['msg']}") from None
    if not steps:
        raise ValueError("burn-in steps: the list is empty")
    return steps


def describe(step) -> str:
    return " ".join(f"{k}={v}" for k, v in step.model_dump(exclude_none=True).items() if k != "do") or ""


class Station(Protocol):
    """What the steps do to the station (the Tango adapter implements it)."""

    def power(self, on: bool, hv_volts: float | None) -> None: ...

    def read(self, attribute: str) -> float | None: ...

    def calibrate(self, tag: str) -> int: ...

    def iv_scan(self, request: str) -> int: ...

    def run_outcome(self, kind: str) -> str | None: ...  # None while running, else how it ended

    def running_run(self, kind: str, tag: str | None) -> int | None: ...  # the run going now (of that tag)

    def abort_runs(self) -> None: ...

    def record_step(self, session: str, index: int, record: dict) -> None: ...  # a runs document per step


class BurnIn:
    def __init__(self, steps: list, station: Station, state_file: Path, on_update: Callable[[], None],
                 poll_s: float = 0.5):
        self.steps, self.station, self.state_file = steps, station, state_file
        self.on_update, self.poll_s = on_update, poll_s
        self.session: dict = self._load()
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None

    # --------------------------------------------------------------- state
    def _load(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.session, indent=1))
        os.replace(tmp, self.state_file)  # never a half-written session
        self.on_update()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def interrupted(self) -> bool:
        """A session that was running when this process last stopped."""
        return self.session.get("status") == "running" and not self.running

    # ------------------------------------------------------------ commands
    def start(self, name: str) -> None:
        if self.running:
            raise RuntimeError(f"burn-in session {self.session.get('name')!r} is running")
        self.session = {"name": name, "status": "running", "started": time.time(), "ended": None, "current": 0,
                        "steps": [{"step": s.do, "args": describe(s), "status": "pending", "run": None,
                                   "started": None, "ended": None, "reason": ""} for s in self.steps]}
        self._go()

    def resume(self) -> None:
        if not self.interrupted:
            raise RuntimeError("no interrupted burn-in session to resume")
        self.session["resumed"] = self.session.get("resumed", 0) + 1
        self._go()

    def abort(self) -> None:
        if self.running:
            self._abort.set()
            self.station.abort_runs()

    def _go(self) -> None:
        self._abort.clear()
        self._save()
        self._thread = threading.Thread(target=self._run, name="burn-in", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- run
    def _run(self) -> None:
        session = self.session
        while session["current"] < len(self.steps):
            index = session["current"]
            record = session["steps"][index]
            interrupted = record["status"] == "running"  # the server died during this step
            record.update(status="running", started=record.get("started") or time.time(), reason="",
                          run=record.get("run") if interrupted else None)
            self._save()
            try:
                record["run"] = self._do(self.steps[index], record, interrupted)
                record["status"] = "done"
            except Exception as exc:
                record["status"], record["reason"] = ("aborted" if self._abort.is_set() else "failed"), str(exc)
            record["ended"] = time.time()
            try:
                self.station.record_step(session["name"], index, record)
            except Exception as exc:  # the session file still has it
                log.error("burn-in: recording step %d in the run store failed: %s", index, exc)
            if record["status"] != "done":
                session.update(status=record["status"], ended=time.time())
                self._save()
                if record["status"] == "failed":
                    self._safe_off()
                return
            session["current"] = index + 1
            self._save()
        session.update(status="done", ended=time.time())
        self._save()

    def _safe_off(self) -> None:
        try:
            self.station.power(False, None)
        except Exception as exc:
            log.error("burn-in: switching the module off after a failed step failed: %s", exc)

    def _do(self, step, record: dict, interrupted: bool = False) -> int | None:
        if isinstance(step, (PowerOn, PowerOff)):
            self.station.power(isinstance(step, PowerOn), getattr(step, "hv_volts", None))
            return None
        if isinstance(step, Wait):
            self._wait(step)
            return None
        kind = "calibration" if isinstance(step, Calibration) else "iv"
        tag = step.tag if kind == "calibration" else None
        number = record.get("run")
        if number is None and interrupted:
            # killed between the run's Start and saving its number: the run going now is that one
            number = self.station.running_run(kind, tag)
            if number is not None:
                log.warning("burn-in: resuming with run %d, started before the interruption", number)
        if number is None or self.station.run_outcome(kind) is not None:  # not a run still going: start one
            number = self.station.calibrate(step.tag) if kind == "calibration" else self.station.iv_scan(step.request)
        record["run"] = number
        self._save()
        while (outcome := self.station.run_outcome(kind)) is None:
            if self._abort.wait(self.poll_s):
                raise RuntimeError("aborted by the operator")
        ok = outcome == "done" or outcome.startswith("completed")
        if not ok:
            raise RuntimeError(f"run {number}: {outcome}")
        return number

    def _wait(self, step: Wait) -> None:
        deadline = time.monotonic() + step.timeout_s
        since = None
        while True:
            value = self.station.read(step.attribute)
            inside = value is not None and (step.below is None or value < step.below) and \
                (step.above is None or value > step.above)
            now = time.monotonic()
            since = (since or now) if inside else None
            if inside and now - since >= step.stable_s:
                return
            if now > deadline:
                raise RuntimeError(f"{step.attribute} did not reach the window in {step.timeout_s:g} s (at {value})")
            if self._abort.wait(self.poll_s):
                raise RuntimeError("aborted by the operator")
