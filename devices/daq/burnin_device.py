"""Tango adapter of a burn-in sequence (the step list is in burnin.py): Start(session), Abort, Resume.

Power steps run the module's sequence (LV on, stable, HV ramp; or HV down,
LV off) through the same code as the interlock's PowerOn; calibration and IV
steps run on the station's Ph2AcfRunner and IvScanner, whose own interlocks
apply. A device started with an interrupted session resumes it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import tango
from tango import DevState
from tango.server import Device, attribute, command, device_property

from devices.daq.burnin import BurnIn, parse_steps
from devices.daq.pushing import ChangePusher
from devices.daq.run_store import RunStore, RunStoreError, utc
from devices.safety.module import Module
from devices.safety.sequence import Sequence, SequenceFailed
from devices.tango_events import events


class TangoStation:
    def __init__(self, owner: str, module: Module, runner: str, scanner: str, store: RunStore, report):
        self.owner, self.module, self.runner, self.scanner, self.store = owner, module, runner, scanner, store
        self.report = report

    def _proxy(self, name: str) -> tango.DeviceProxy:
        proxy = tango.DeviceProxy(name)
        proxy.set_timeout_millis(5000)
        return proxy

    def power(self, on: bool, hv_volts: float | None) -> None:
        sequence = Sequence(self.module, report=self.report, hv_volts=hv_volts)
        try:
            if on:
                sequence.check()
                sequence.power_on()
            else:
                sequence.power_off()
        except SequenceFailed as exc:
            raise RuntimeError(str(exc)) from None

    def read(self, attribute: str) -> float | None:
        device, _, name = attribute.rpartition("/")
        try:
            reply = self._proxy(device).read_attribute(name)
        except tango.DevFailed:
            return None
        return None if reply.quality == tango.AttrQuality.ATTR_INVALID else float(reply.value)

    def _start(self, device: str, argument: str) -> int:
        if not device:
            raise RuntimeError("no device for this step: set the sequencer's runner / scanner property")
        try:
            return int(self._proxy(device).command_inout("Start", argument))
        except tango.DevFailed as exc:
            raise RuntimeError(f"{device} Start {argument}: {exc.args[0].desc.strip()}") from None

    def calibrate(self, tag: str) -> int:
        return self._start(self.runner, tag)

    def iv_scan(self, request: str) -> int:
        return self._start(self.scanner, request)

    def run_outcome(self, kind: str) -> str | None:
        device = self.runner if kind == "calibration" else self.scanner
        try:
            status = self._proxy(device).run_status
        except tango.DevFailed:
            return None  # unreachable for a moment: keep waiting (the step has its run's own timeouts)
        return None if status == "running" else status

    def running_run(self, kind: str, tag: str | None) -> int | None:
        device = self._proxy(self.runner if kind == "calibration" else self.scanner)
        try:
            if device.run_status != "running" or (tag is not None and device.calibration != tag):
                return None
            return int(device.run_number)
        except tango.DevFailed:
            return None

    def abort_runs(self) -> None:
        for device in (self.runner, self.scanner):
            if device:
                try:
                    self._proxy(device).command_inout("Abort")
                except tango.DevFailed:
                    pass

    def record_step(self, session: str, index: int, record: dict) -> None:
        self.store.check()
        number = self.store.next_run_number(self.owner)
        self.store.new_run({"device": self.owner, "run_type": "burnin_step", "run_number": number,
                            "session": session, "step_index": index, "step": record["step"], "args": record["args"],
                            "calibration": f"burn-in {record['step']}", "status": record["status"],
                            "reason": record["reason"], "linked_run": record.get("run"),
                            "t_start": utc(record["started"]), "t_end": utc(record["ended"]),
                            "modules": [self.module.name], "archive": {"start": utc(record["started"]),
                                                                       "stop": utc(record["ended"]), "attributes": []}})


class BurnInSequencer(Device):
    """A module's burn-in: a step list (power, wait for temperature, calibration, IV, off) run in order,
    each step a run document, resumed after a crash."""

    steps = device_property(dtype=str, default_value="[]",
                            doc="the step list as JSON (config apply writes the station file's sequences.<sequence>)")
    module = device_property(dtype=str, default_value="", doc="the module: its station-file entry as JSON (config apply "
                                                               "writes it from the module's name)")
    sequence = device_property(dtype=str, default_value="", doc="the name of the station file's step list")
    runner = device_property(dtype=str, default_value="", doc="the Ph2AcfRunner of calibration steps")
    scanner = device_property(dtype=str, default_value="", doc="the IvScanner of IV steps")
    state_file = device_property(dtype=str, default_value="burnin.json", doc="where the session is kept")
    run_store = device_property(dtype=str, default_value="mongodb://127.0.0.1:27017", doc="MongoDB URI of the run store")
    run_store_database = device_property(dtype=str, default_value="dcs", doc="database of the run store")
    run_store_password_file = device_property(dtype=str, default_value="", doc="file with the run store's password")

    def init_device(self) -> None:
        super().init_device()
        self.burnin = None
        self._log: list[str] = []
        try:
            steps = parse_steps(self.steps)
            module = Module(**json.loads(self.module))
            store = RunStore(self.run_store, self.run_store_database, self.run_store_password_file or None)
        except (ValueError, TypeError, RunStoreError, OSError) as exc:
            self.set_state(DevState.FAULT)
            self.set_status(f"configuration error: {exc}")
            return
        self.store = store
        station = TangoStation(self.get_name(), module, self.runner, self.scanner, store, self._report)
        self.pusher = ChangePusher(self, ("step_index", "current_step", "session_status"))
        self.burnin = BurnIn(steps, station, Path(self.state_file), self._on_update)
        if self.burnin.interrupted:
            self._report(f"resuming session {self.burnin.session['name']!r} at step {self.burnin.session['current']}")
            self.burnin.resume()
        self._on_update()

    def delete_device(self) -> None:
        if self.burnin is not None:
            self.store.close()
            self.burnin = None

    def _report(self, text: str) -> None:
        self._log = (self._log + [f"{time.strftime('%H:%M:%S')} {text}"])[-200:]

    def _on_update(self) -> None:
        b = self.burnin
        if b is None:
            return
        status = b.session.get("status", "")
        self.pusher.state({"running": DevState.RUNNING, "failed": DevState.ALARM}.get(status, DevState.STANDBY),
                          self._status_text())
        self.pusher.values({"step_index": self._step_index(), "current_step": self._current_step(),
                            "session_status": self._session_status()})

    def _status_text(self) -> str:
        s = self.burnin.session
        if not s:
            return "no session yet"
        steps = s["steps"]
        index = min(s["current"], len(steps) - 1)
        step = steps[index]
        return f"session {s['name']}: {s['status']}, step {index + 1}/{len(steps)} {step['step']} {step['args']}".strip() \
            + (f" ({step['reason']})" if step["reason"] else "")

    def _step_index(self) -> int:
        return int(self.burnin.session.get("current", 0)) if self.burnin else 0

    def _current_step(self) -> str:
        s = self.burnin.session if self.burnin else {}
        if not s or s["current"] >= len(s["steps"]):
            return ""
        step = s["steps"][s["current"]]
        return f"{step['step']} {step['args']}".strip()

    def _session_status(self) -> str:
        return self.burnin.session.get("status", "") if self.burnin else ""

    @attribute(dtype=int, doc="index of the step running (or next)", **events())
    def step_index(self):
        return self._step_index()

    @attribute(dtype=str, doc="the step running (or next)", **events())
    def current_step(self):
        return self._current_step()

    @attribute(dtype=str, doc="the session: running, done, failed, aborted", **events())
    def session_status(self):
        return self._session_status()

    @attribute(dtype=(str,), max_dim_x=500, doc="every step: 'index step args: status (run N) reason'")
    def session_steps(self):
        s = self.burnin.session if self.burnin else {}
        return [f"{i} {r['step']} {r['args']}".rstrip() + f": {r['status']}" + (f" (run {r['run']})" if r.get("run") else "")
                + (f" {r['reason']}" if r["reason"] else "") for i, r in enumerate(s.get("steps", []))]

    @attribute(dtype=(str,), max_dim_x=200, doc="what the power steps did, newest last")
    def step_log(self):
        return self._log

    def _check(self, origin: str) -> None:
        if self.burnin is None:
            tango.Except.throw_exception("BurnIn_NotConfigured", self.get_status(), origin)

    @command(dtype_in=str, doc_in="session name")
    def Start(self, name: str) -> None:
        self._check("Start")
        try:
            self.burnin.start(name.strip() or time.strftime("burnin-%Y%m%d-%H%M%S"))
        except RuntimeError as exc:
            tango.Except.throw_exception("BurnIn_Refused", str(exc), "Start")

    @command(doc_in="stop the session (and the run of its step)")
    def Abort(self) -> None:
        self._check("Abort")
        self.burnin.abort()

    @command(doc_in="resume an interrupted session at the step that was interrupted")
    def Resume(self) -> None:
        self._check("Resume")
        try:
            self.burnin.resume()
        except RuntimeError as exc:
            tango.Except.throw_exception("BurnIn_Refused", str(exc), "Resume")
