"""One FC7 board's calibration runs: start, follow, abort, record (no Tango).

The Tango device (device.py) injects what needs Tango: the interlock's
permit, the DCS snapshot and the last trip. Every run is a ``runs`` document
from Start on; the snapshot is taken at the start and the end; the result
file is ingested when the run ends. A refused Start raises RunRefused with
the reason, and nothing is started.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devices.daq import calibrations
from devices.daq.ingest import Grading, ingest, read_metadata
from devices.daq.process import CalibrationProcess, Outcome, Progress
from devices.daq.run_store import RunStore, RunStoreError, utc

log = logging.getLogger(__name__)

STANDBY, RUNNING, ALARM, FAULT, DISABLE = "STANDBY", "RUNNING", "ALARM", "FAULT", "DISABLE"
FC7_CHECK_PERIOD_S = 30.0
# A run whose permit is refused this many turns in a row (one a second) is aborted: a refusal of one
# moment (an input unknown for one missed heartbeat, the interlock slow to answer under load) is not
# a lost permit, as a rule's debounce is not a trip. A tripped rule aborts at once.
PERMIT_LOST_TURNS = 3
LAST_RUNS_RETRY_S = 10.0  # a run store that did not answer is asked for the last runs again after this


class RunRefused(RuntimeError):
    pass


@dataclass(frozen=True)
class RunnerConfig:
    device: str  # the Tango name, recorded with each run
    executable: tuple[str, ...]  # runCalibration, or the emulator's command
    fpgaconfig: tuple[str, ...]
    base_dir: Path  # PH2ACF_BASE_DIR and the working directory (RunNumbers.dat, Results/)
    hardware_xml: Path
    calibrations: tuple[str, ...]
    modules: tuple[str, ...]  # per optical group
    total_timeout_s: float = 7200.0
    inactivity_timeout_s: float = 600.0
    grading: Grading = Grading()
    archived: tuple[str, ...] = ()  # the archive's attributes: the run's query window covers them

    def problems(self) -> list[str]:
        """Why no run can start (FAULT), empty when none."""
        found = []
        program = self.executable[0] if self.executable else ""
        if not program or not (shutil.which(program) or os.access(program, os.X_OK)):
            found.append(f"the executable {program!r} is missing or not executable")
        if not self.hardware_xml.is_file():
            found.append(f"the hardware description {self.hardware_xml} does not exist")
        unknown = [t for t in self.calibrations if t not in calibrations.STEPS]
        if unknown:
            found.append(f"unknown calibration tags {unknown} (known: {', '.join(calibrations.STEPS)})")
        return found


@dataclass
class Snapshot:
    taken: float
    values: dict
    interlock: dict = field(default_factory=dict)


class RunManager:
    def __init__(self, config: RunnerConfig, store: RunStore, permit: Callable[[], str],
                 snapshot: Callable[[], Snapshot], on_update: Callable[[], None],
                 tripped_since: Callable[[float], str | None] = lambda t: None):
        self.config = config
        self.tripped_since = tripped_since  # the interlock rule that tripped after a time, if one did
        self.store = store
        self.permit = permit
        self.snapshot = snapshot
        self.on_update = on_update
        self.state, self.status = STANDBY, "ready"
        self.progress = Progress("", 0)
        self.process: CalibrationProcess | None = None
        self.run_id = None
        self.last_outcome: Outcome | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._fc7_checked = 0.0
        self._refused_run: CalibrationProcess | None = None  # the run whose permit was refused at the last turn
        self._refusals = 0  # how many turns in a row
        self._monitor = threading.Thread(target=self._watch, name=f"runner {config.device}", daemon=True)
        # the last runs, 'run N tag status reason' newest first: read from the store by a thread of
        # their own when a run starts or ends, never in an attribute read (a store that does not
        # answer would block the read for its whole timeout)
        self.last_runs: list[str] = []
        self._runs_changed = threading.Event()
        self._runs_changed.set()
        self._runs_reader = threading.Thread(target=self._keep_last_runs, name=f"runs {config.device}", daemon=True)

    # -------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._check_setup(force=True)
        self._monitor.start()
        self._runs_reader.start()

    def stop(self) -> None:
        self._stop.set()
        self._runs_changed.set()
        if self.process is not None:
            self.process.abort("aborted: the device server stopped")
            self.process.wait(15)

    def _set(self, state: str, status: str) -> None:
        changed = (state, status) != (self.state, self.status)
        self.state, self.status = state, status
        if changed:
            self.on_update()

    def _check_setup(self, force: bool = False) -> bool:
        """FAULT when the executable, the XML or the FC7 is missing; return whether all is there."""
        problems = self.config.problems()
        if not problems and (force or time.monotonic() - self._fc7_checked > FC7_CHECK_PERIOD_S):
            self._fc7_checked = time.monotonic()
            problems = self._fc7_answers()
        elif not problems and self.state == FAULT and self.status.startswith("no FC7"):
            return False
        if problems:
            self._set(FAULT, "; ".join(problems))
            return False
        if self.state == FAULT:
            self._set(STANDBY, "ready")
        return True

    def _fc7_answers(self) -> list[str]:
        if not self.config.fpgaconfig:
            return []
        argv = [*self.config.fpgaconfig, "-c", str(self.config.hardware_xml), "-l"]
        try:
            done = subprocess.run(argv, cwd=self.config.base_dir, env=self._env(), capture_output=True, text=True,
                                  timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [f"no FC7: {' '.join(argv[:1])} failed ({exc})"]
        if done.returncode != 0:
            last = (done.stdout + done.stderr).strip().splitlines()[-2:]
            return [f"no FC7: fpgaconfig -l exited {done.returncode}: {' | '.join(last)}"]
        return []

    def _env(self) -> dict[str, str]:
        return dict(os.environ, PH2ACF_BASE_DIR=str(self.config.base_dir))

    # ------------------------------------------------------------------ runs
    @property
    def running(self) -> bool:
        return self.process is not None

    def next_run_number(self) -> int:
        """The number Ph2_ACF gives the next run: the last one in RunNumbers.dat, plus one."""
        path = self.config.base_dir / "RunNumbers.dat"
        numbers = [int(x) for x in path.read_text().split() if x.isdigit()] if path.exists() else []
        return (numbers[-1] if numbers else 0) + 1

    def _claim_run_number(self) -> int:
        """The next run's number, past every run of this board in the store.

        Ph2_ACF appends a run's number to RunNumbers.dat only once the board is configured: a run
        aborted or failed before that is recorded under a number that RunNumbers.dat does not have,
        and the next run would get it again. Such numbers are written to RunNumbers.dat as used (as
        Ph2_ACF would have done), so that Ph2_ACF and the run store agree on the next number."""
        number = self.next_run_number()
        try:
            recorded = self.store.next_run_number(self.config.device)
        except RunStoreError as exc:
            raise RunRefused(f"Start refused: {exc}; a run must be recorded") from None
        if recorded > number:
            log.warning("runs %d..%d are recorded but not in RunNumbers.dat (ended before Ph2_ACF took their "
                        "number): marking them used", number, recorded - 1)
            with (self.config.base_dir / "RunNumbers.dat").open("a") as out:
                out.write(f"{recorded - 1}\n")
            number = recorded
        return number

    def start_run(self, tag: str) -> int:
        with self._lock:
            if self.running:
                raise RunRefused(f"Start refused: run {self.progress.run_number} ({self.progress.calibration}) "
                                 "is still going")
            if tag not in self.config.calibrations:
                raise RunRefused(f"Start refused: calibration {tag!r} is not allowed on this board "
                                 f"(allowed: {', '.join(self.config.calibrations)})")
            if not self._check_setup(force=True):  # the FC7 is asked before every run
                raise RunRefused(f"Start refused: {self.status}")
            reason = self.permit()
            if reason:
                self._set(DISABLE, reason)
                raise RunRefused(reason)
            try:
                self.store.check()
            except RunStoreError as exc:
                raise RunRefused(f"Start refused: {exc}; a run must be recorded") from None
            number = self._claim_run_number()
            steps = calibrations.steps(tag)
            argv = [*self.config.executable, "-b", "-f", str(self.config.hardware_xml), "-c", tag]
            before = self.snapshot()
            now = time.time()
            self.run_id = self.store.new_run({
                "device": self.config.device, "run_type": "ph2acf", "run_number": number, "calibration": tag,
                "status": "running", "reason": "", "t_start": utc(now), "t_end": None,
                "modules": list(self.config.modules), "argv": argv,
                "archive": {"start": utc(now), "stop": None, "attributes": list(self.config.archived)},
                "steps_total": len(steps),
            })
            self.store.add_snapshot(self.run_id, "start", before.taken, before.values, before.interlock)
            self._runs_changed.set()
            log_path = self.config.base_dir / "logs" / f"Run_{number}.log"
            self.process = CalibrationProcess(
                argv, self.config.base_dir, self._env(), tag, len(steps), self._progress, log_path,
                self.config.total_timeout_s, self.config.inactivity_timeout_s, calibrations.expected_seconds(tag),
                run_number=number)
            self.progress = Progress(tag, len(steps), run_number=number)
            self.process.start()
            self._set(RUNNING, f"run {number}: {tag} started")
            threading.Thread(target=self._finish, args=(self.process, number, log_path), daemon=True,
                             name=f"run {number}").start()
            return number

    def _progress(self, progress: Progress) -> None:
        self.progress = progress
        if progress.run_number is not None and self.state == RUNNING:
            self.status = f"run {progress.run_number}: {progress.calibration}, {progress.step} " \
                          f"({progress.steps_done}/{progress.steps_total})"
        self.on_update()

    def abort(self, by: str = "the operator") -> None:
        """Abort the run; a run aborted after an interlock trip is marked ``aborted: <rule>``."""
        process = self.process
        if process is None:  # nothing to stop: an interlock action on an idle board is not an error
            return
        rule = self.tripped_since(process.started)
        process.abort(f"aborted: {rule}" if rule else f"aborted by {by}")

    def _finish(self, process: CalibrationProcess, number: int, log_path: Path) -> None:
        outcome = process.wait()
        after = self.snapshot()
        p = outcome.progress
        if p.run_number is not None and p.run_number != number:
            log.warning("run number %s predicted, Ph2_ACF says %s", number, p.run_number)
        fields = {"status": outcome.status, "reason": outcome.reason, "exit_code": outcome.exit_code,
                  "t_end": utc(outcome.ended), "archive.stop": utc(outcome.ended),
                  "run_number": p.run_number or number, "steps": [dict(s, start=utc(s["start"]), end=utc(s["end"]))
                                                                 for s in p.steps],
                  "steps_done": p.steps_done, "warnings": p.warnings, "errors": p.errors,
                  "files": {"log": str(log_path), "results": p.result_path or None}}
        try:
            self.store.add_snapshot(self.run_id, "end", after.taken, after.values, after.interlock)
            if p.result_path and Path(p.result_path).is_file():
                fields["ph2acf"] = read_metadata(Path(p.result_path))
                results, chips = ingest(Path(p.result_path), list(self.config.modules), p.calibration,
                                        utc(outcome.started), self.config.grading)
                self.store.add_results(self.run_id, results, chips)
                fields["grades"] = {r["module"]: r["summary"]["grade"] for r in results}
            self.store.update_run(self.run_id, **fields)
        except Exception as exc:  # the run is over either way; say why its record is incomplete
            log.exception("recording run %s failed", number)
            outcome = Outcome("failed", f"{outcome.reason}; recording failed: {exc}", outcome.exit_code, p,
                              outcome.started, outcome.ended)
        self._runs_changed.set()
        with self._lock:
            self.process = None
            self.last_outcome = outcome
            self.progress = p
            if outcome.status in ("done", "aborted"):
                self._set(STANDBY, f"run {p.run_number or number} {outcome.status}: {outcome.reason}")
            elif p.failure and "FC7" in p.failure:
                self._set(FAULT, f"no FC7: run {number} {outcome.status}: {outcome.reason}")
            else:
                self._set(ALARM, f"run {p.run_number or number} {outcome.status}: {outcome.reason}")
            self.on_update()

    def reset(self) -> None:
        if self.state == ALARM:
            self._set(STANDBY, "ready")

    def _keep_last_runs(self) -> None:
        while True:
            self._runs_changed.wait()
            if self._stop.is_set():
                return
            self._runs_changed.clear()
            try:
                runs = self.store.runs(limit=10)
            except Exception as exc:  # RunStoreError, or anything else: the reader outlives it
                log.warning("the last runs could not be read (asked again in %.0f s): %s", LAST_RUNS_RETRY_S, exc)
                self._runs_changed.set()
                self._stop.wait(LAST_RUNS_RETRY_S)
                continue
            self.last_runs = [f"run {r['run_number']} {r.get('calibration', '')} {r.get('status', '')} "
                              f"{r.get('reason', '')}".strip() for r in runs if r.get("device") == self.config.device]

    # --------------------------------------------------------------- monitor
    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self._turn()
            except Exception:  # the watcher must outlive any one failure
                log.exception("runner watch failed")

    def _turn(self) -> None:
        reason = self.permit()
        process = self.process
        if process is not None:
            rule = self.tripped_since(process.started)
            if rule:
                process.abort(f"aborted: {rule}")
            elif reason and not reason.endswith("is UNSAFE"):  # an unsafe rule aborts when it trips (debounced)
                self._refusals = self._refusals + 1 if process is self._refused_run else 1
                self._refused_run = process
                if self._refusals >= PERMIT_LOST_TURNS:
                    process.abort(f"aborted: {reason.removeprefix('Start refused: ')}")
                elif self._refusals == 1:
                    log.warning("run %s: the permit is refused (%s); aborted if still so in %d s",
                                self.progress.run_number, reason, PERMIT_LOST_TURNS - 1)
            else:
                self._refused_run = None
            return
        if not self._check_setup():
            return
        if reason and self.state in (STANDBY, DISABLE):
            self._set(DISABLE, reason)
        elif not reason and self.state == DISABLE:
            self._set(STANDBY, "ready")
