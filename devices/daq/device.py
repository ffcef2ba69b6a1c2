"""Tango adapter of one FC7 board's Ph2_ACF calibration runs (the work is in manager.py).

Start(tag) returns the run number; Abort stops the run (SIGINT, SIGTERM,
SIGKILL to its process group). The interlock is asked before Start and
every second during a run; a trip aborts the run as ``aborted: <rule>``.
DISABLE names why the interlock says no; FAULT names what is missing.
"""

from __future__ import annotations

from pathlib import Path

import tango
from tango import DevState
from tango.server import Device, attribute, command, device_property

from devices.daq.ingest import Grading
from devices.daq.manager import RunManager, RunnerConfig, RunRefused
from devices.daq.pushing import ChangePusher
from devices.daq.run_store import RunStore, RunStoreError
from devices.daq.station_view import StationView
from devices.tango_events import events

_STATES = {"STANDBY": DevState.STANDBY, "RUNNING": DevState.RUNNING, "ALARM": DevState.ALARM,
           "FAULT": DevState.FAULT, "DISABLE": DevState.DISABLE}

# attribute -> how it is read off the manager; all pushed as change and archive events
PUSHED = {
    "run_number": lambda m: m.progress.run_number or 0,
    "calibration": lambda m: m.progress.calibration,
    "step": lambda m: m.progress.step if m.progress.calibration else "",
    "steps_done": lambda m: m.progress.steps_done,
    "steps_total": lambda m: m.progress.steps_total,
    "progress": lambda m: float(m.progress.progress),
    "eta": lambda m: float(m.progress.eta),
    "last_message": lambda m: m.progress.last_message,
    "warnings": lambda m: m.progress.warnings,
    "result_path": lambda m: m.progress.result_path,
    "run_status": lambda m: "running" if m.running else _outcome(m.last_outcome),
    "run_summary": lambda m: _summary(m),
}

def _summary(m) -> str:
    """'run N <tag>: running' while it runs, then 'run N <tag>: <how it ended>' (Grafana's run annotations)."""
    if not m.progress.run_number:
        return ""
    return f"run {m.progress.run_number} {m.progress.calibration}: {PUSHED['run_status'](m)}"


def _outcome(outcome) -> str:
    if outcome is None:
        return ""
    reason = outcome.reason
    return reason if reason.startswith(outcome.status) else f"{outcome.status}: {reason}"


class Ph2AcfRunner(Device):
    """Ph2_ACF calibration runs on one FC7 board: runCalibration supervised, results in the run store."""

    model = device_property(dtype=str, default_value="fc7", doc="instrument model: fc7")
    resource = device_property(dtype=str, default_value="", doc="the FC7's IPbus URI, e.g. chtcp-2.0://localhost:10203?target=fc7ot1:50001")
    executable = device_property(dtype=(str,), default_value=["runCalibration"],
                                 doc="runCalibration, as a program and leading arguments")
    fpgaconfig = device_property(dtype=(str,), default_value=["fpgaconfig"],
                                 doc="fpgaconfig (asked with -l whether the FC7 answers); empty: no check")
    base_dir = device_property(dtype=str, default_value="", doc="PH2ACF_BASE_DIR and the working directory")
    hardware_xml = device_property(dtype=str, default_value="", doc="the hardware description XML (-f)")
    calibrations = device_property(dtype=(str,), default_value=["2SquickTest", "2SfullTest", "calibrationandpedenoise"],
                                   doc="calibration tags Start accepts")
    modules = device_property(dtype=(str,), default_value=[], doc="the module on each optical group, in order")
    total_timeout = device_property(dtype=float, default_value=7200.0, doc="longest run, s")
    inactivity_timeout = device_property(dtype=float, default_value=600.0, doc="longest silence of a run, s")
    interlock = device_property(dtype=str, default_value="", doc="SafetyInterlock asked before and during a run")
    run_store = device_property(dtype=str, default_value="mongodb://127.0.0.1:27017", doc="MongoDB URI of the run store")
    run_store_database = device_property(dtype=str, default_value="dcs", doc="database of the run store")
    run_store_password_file = device_property(dtype=str, default_value="", doc="file with the run store's password")
    snapshot_attributes = device_property(dtype=(str,), default_value=[],
                                          doc="attributes (dev/attr) recorded at the start and end of every run")
    noise_min = device_property(dtype=float, default_value=0.0, doc="lowest passing mean noise of a chip, VcTh")
    noise_max = device_property(dtype=float, default_value=8.0, doc="highest passing mean noise of a chip, VcTh")
    max_dead = device_property(dtype=int, default_value=5, doc="most dead channels a passing module has")

    def init_device(self) -> None:
        super().init_device()
        self.manager = None
        self.set_state(DevState.INIT)
        base = Path(self.base_dir or ".")
        config = RunnerConfig(
            device=self.get_name(), executable=tuple(self.executable), fpgaconfig=tuple(self.fpgaconfig or ()),
            base_dir=base, hardware_xml=Path(self.hardware_xml) if self.hardware_xml else base / "settings" / "missing.xml",
            calibrations=tuple(self.calibrations), modules=tuple(self.modules),
            total_timeout_s=self.total_timeout, inactivity_timeout_s=self.inactivity_timeout,
            grading=Grading(self.noise_min, self.noise_max, self.max_dead), archived=tuple(self.snapshot_attributes))
        try:
            store = RunStore(self.run_store, self.run_store_database, self.run_store_password_file or None)
        except (RunStoreError, OSError, ValueError) as exc:
            self.set_state(DevState.FAULT)
            self.set_status(f"configuration error: run store: {exc}")
            return
        self.pusher = ChangePusher(self, PUSHED, archive=True)
        self.view = StationView(self.get_name(), self.interlock, list(self.snapshot_attributes))
        self.manager = RunManager(config, store, self.view.permit,
                                  lambda: self.view.snapshot(before_run=self.manager is None or not self.manager.running),
                                  self._on_update, self.view.tripped_since)
        self.manager.start()
        self._on_update()

    def delete_device(self) -> None:
        if self.manager is not None:
            self.manager.stop()
            self.manager.store.close()
            self.manager = None

    # ---------------------------------------------------------------- events
    def _on_update(self) -> None:
        manager = self.manager
        if manager is None:
            return
        self.pusher.state(_STATES[manager.state], manager.status)
        self.pusher.values({name: read(manager) for name, read in PUSHED.items()})

    def _read(self, name: str):
        if self.manager is None:
            tango.Except.throw_exception("Ph2Acf_NotConfigured", self.get_status(), name)
        return PUSHED[name](self.manager)

    # ------------------------------------------------------------ attributes
    @attribute(dtype=int, doc="run number of the current or last run", **events())
    def run_number(self):
        return self._read("run_number")

    @attribute(dtype=str, doc="calibration tag of the current or last run", **events())
    def calibration(self):
        return self._read("calibration")

    @attribute(dtype=str, doc="the step running now (Ph2_ACF's sub-calibration)", **events())
    def step(self):
        return self._read("step")

    @attribute(dtype=int, doc="steps finished", **events())
    def steps_done(self):
        return self._read("steps_done")

    @attribute(dtype=int, doc="steps of the calibration", **events())
    def steps_total(self):
        return self._read("steps_total")

    @attribute(dtype=float, unit="%", format="%.1f", doc="steps finished, %", **events())
    def progress(self):
        return self._read("progress")

    @attribute(dtype=float, unit="s", format="%.0f", doc="time left, s (-1: unknown)", **events())
    def eta(self):
        return self._read("eta")

    @attribute(dtype=str, doc="Ph2_ACF's last log message", **events())
    def last_message(self):
        return self._read("last_message")

    @attribute(dtype=int, doc="warnings Ph2_ACF printed in this run", **events())
    def warnings(self):
        return self._read("warnings")

    @attribute(dtype=str, doc="the run's Results.root", **events())
    def result_path(self):
        return self._read("result_path")

    @attribute(dtype=str, doc="running, or how the last run ended (done / failed / aborted / timeout / crashed: why)",
               **events())
    def run_status(self):
        return self._read("run_status")

    @attribute(dtype=str, doc="'run N <tag>: running', then 'run N <tag>: <how it ended>'; archived, it makes "
                              "Grafana's calibration-run annotations", **events())
    def run_summary(self):
        return self._read("run_summary")

    @attribute(dtype=(str,), max_dim_x=64, doc="the allowed calibration tags")
    def allowed_calibrations(self):
        return list(self.calibrations)

    @attribute(dtype=(str,), max_dim_x=20, doc="the last runs: 'run N tag status reason'")
    def last_runs(self):
        return [] if self.manager is None else list(self.manager.last_runs)

    # -------------------------------------------------------------- commands
    @command(dtype_in=str, doc_in="calibration tag, e.g. 2SquickTest", dtype_out=int, doc_out="the run number")
    def Start(self, tag: str) -> int:
        if self.manager is None:
            tango.Except.throw_exception("Ph2Acf_NotConfigured", self.get_status(), "Start")
        try:
            return self.manager.start_run(tag.strip())
        except RunRefused as exc:
            tango.Except.throw_exception("Ph2Acf_StartRefused", str(exc), "Start")

    @command(doc_in="abort the run (SIGINT, then SIGTERM, then SIGKILL); nothing when none is going")
    def Abort(self) -> None:
        if self.manager is None:
            tango.Except.throw_exception("Ph2Acf_NotConfigured", self.get_status(), "Abort")
        self.manager.abort()

    @command(doc_in="clear ALARM after a failed run")
    def Reset(self) -> None:
        if self.manager is not None:
            self.manager.reset()
            self._on_update()
