"""Tango adapter of IV scans on one bias channel (a PowerSupplyChannel); the work is in iv_manager.py.

Start(request) takes a preset (``quick_test``, ``before_encapsulation``,
``after_encapsulation``) or a JSON object of scan settings and returns the run
number; Abort stops the scan, which always ramps down.
"""

from __future__ import annotations

from pathlib import Path

import tango
from tango import DevState
from tango.server import Device, attribute, command, device_property

from devices.daq.iv_manager import IvConfig, IvManager
from devices.daq.iv_scan import parse_request
from devices.daq.manager import RunRefused
from devices.daq.pushing import ChangePusher
from devices.daq.run_store import RunStore, RunStoreError
from devices.daq.station_view import StationView
from devices.tango_events import events


class TangoHvChannel:
    """The scan's view of a PowerSupplyChannel; a refusal becomes a RuntimeError saying why."""

    def __init__(self, name: str):
        self.name = name
        self.proxy = tango.DeviceProxy(name)
        self.proxy.set_timeout_millis(5000)

    def _call(self, what: str, call):
        try:
            return call()
        except tango.DevFailed as exc:
            raise RuntimeError(f"{self.name} {what}: {exc.args[0].desc.strip()}") from None

    def prepare(self, compliance_a: float) -> float | None:
        previous = self._call("current_limit", lambda: self.proxy.read_attribute("current_limit").value)
        self._call("current_limit", lambda: self.proxy.write_attribute("current_limit", compliance_a))
        return float(previous)

    def restore(self, compliance_a: float) -> None:
        self._call("current_limit", lambda: self.proxy.write_attribute("current_limit", compliance_a))

    def set_voltage(self, volts: float) -> None:
        self._call("voltage_setpoint", lambda: self.proxy.write_attribute("voltage_setpoint", volts))

    def on(self) -> None:
        self._call("On", lambda: self.proxy.command_inout("On"))

    def off(self) -> None:
        self._call("Off", lambda: self.proxy.command_inout("Off"))

    def read(self) -> tuple[float, float, str, bool]:
        replies = self._call("read", lambda: self.proxy.read_attributes(["voltage", "current", "tripped", "State"]))
        voltage, current, tripped, state = (r.value for r in replies)
        return float(voltage), float(current), str(state), bool(tripped)


PUSHED = {
    "run_number": lambda m: m.run_number,
    "run_status": lambda m: "running" if m.running else (
        m.result.reason if m.result.reason.startswith(m.result.status) else
        f"{m.result.status}: {m.result.reason}" if m.result.status else ""),
    "point_index": lambda m: len(m.result.points),
    "point_count": lambda m: len(m.settings.voltages()) if m.settings else 0,
    "progress": lambda m: round(100.0 * len(m.result.points) / max(len(m.settings.voltages()), 1), 1)
    if m.settings else 0.0,
    "voltage": lambda m: m.result.points[-1].voltage if m.result.points else 0.0,
    "current": lambda m: m.result.points[-1].current if m.result.points else 0.0,
}


class IvScanner(Device):
    """IV scans of a module's sensor on its HV channel, recorded as runs in the run store."""

    hv_device = device_property(dtype=str, doc="the PowerSupplyChannel biasing the sensor")
    module = device_property(dtype=str, default_value="", doc="the module whose sensor is scanned")
    polarity = device_property(dtype=float, default_value=1.0, doc="+1 or -1: the sign of the bias voltages")
    max_voltage = device_property(dtype=float, default_value=600.0, doc="highest |V| a scan may reach")
    temperature_attribute = device_property(dtype=str, default_value="", doc="dev/attr of the box temperature")
    humidity_attribute = device_property(dtype=str, default_value="", doc="dev/attr of the box humidity")
    settle_s = device_property(dtype=float, default_value=1.0, doc="default settling time per step, s")
    v_step = device_property(dtype=float, default_value=10.0, doc="default step, V")
    compliance = device_property(dtype=float, default_value=1e-5, doc="default compliance, A")
    samples = device_property(dtype=int, default_value=3, doc="default current readings averaged per step")
    csv_dir = device_property(dtype=str, default_value="iv", doc="where the central-database CSV files go")
    location = device_property(dtype=str, default_value="lab", doc="#Location / STATION of the CSV")
    interlock = device_property(dtype=str, default_value="", doc="SafetyInterlock asked before and during a scan")
    run_store = device_property(dtype=str, default_value="mongodb://127.0.0.1:27017", doc="MongoDB URI of the run store")
    run_store_database = device_property(dtype=str, default_value="dcs", doc="database of the run store")
    run_store_password_file = device_property(dtype=str, default_value="", doc="file with the run store's password")
    snapshot_attributes = device_property(dtype=(str,), default_value=[],
                                          doc="attributes (dev/attr) recorded at the start and end of every scan")

    def init_device(self) -> None:
        super().init_device()
        self.manager = None
        if not self.hv_device:
            self.set_state(DevState.FAULT)
            self.set_status("configuration error: the device property 'hv_device' must be set")
            return
        try:
            store = RunStore(self.run_store, self.run_store_database, self.run_store_password_file or None)
            channel = TangoHvChannel(self.hv_device)
        except (RunStoreError, OSError, ValueError, tango.DevFailed) as exc:
            self.set_state(DevState.FAULT)
            self.set_status(f"configuration error: {exc}")
            return
        self.view = StationView(self.get_name(), self.interlock, list(self.snapshot_attributes))
        config = IvConfig(self.get_name(), self.hv_device, self.module, self.polarity, Path(self.csv_dir),
                          self.location, tuple(self.snapshot_attributes))
        self.pusher = ChangePusher(self, (*PUSHED, "iv_voltages", "iv_currents"))
        self.manager = IvManager(config, store, channel, self.view.permit, self.view.snapshot, self._conditions,
                                 self.view.tripped_since, self._on_update)
        self._on_update()

    def delete_device(self) -> None:
        if self.manager is not None:
            self.manager.stop()
            self.manager.store.close()
            self.manager = None

    def _conditions(self) -> tuple[float | None, float | None]:
        return self.view.read_number(self.temperature_attribute), self.view.read_number(self.humidity_attribute)

    def _on_update(self) -> None:
        m = self.manager
        if m is None:
            return
        state = DevState.RUNNING if m.running else (
            DevState.ALARM if m.result.status == "failed" else DevState.STANDBY)
        status = f"IV scan run {m.run_number}: {len(m.result.points)} point(s), at " \
                 f"{PUSHED['voltage'](m):.1f} V" if m.running else (PUSHED["run_status"](m) or "ready")
        self.pusher.state(state, status)
        self.pusher.values({name: read(m) for name, read in PUSHED.items()})
        self.pusher.values({"iv_voltages": [p.voltage for p in m.result.points],
                            "iv_currents": [p.current for p in m.result.points]})

    def _read(self, name: str):
        if self.manager is None:
            tango.Except.throw_exception("IvScan_NotConfigured", self.get_status(), name)
        return PUSHED[name](self.manager)

    @attribute(dtype=int, doc="run number of the current or last scan", **events())
    def run_number(self):
        return self._read("run_number")

    @attribute(dtype=str, doc="running, or how the last scan ended (completed / compliance / breakdown / aborted / failed)",
               **events())
    def run_status(self):
        return self._read("run_status")

    @attribute(dtype=int, doc="points measured", **events())
    def point_index(self):
        return self._read("point_index")

    @attribute(dtype=int, doc="points of the scan", **events())
    def point_count(self):
        return self._read("point_count")

    @attribute(dtype=float, unit="%", format="%.1f", doc="points measured, %", **events())
    def progress(self):
        return self._read("progress")

    @attribute(dtype=float, unit="V", format="%.2f", doc="voltage of the last point", **events())
    def voltage(self):
        return self._read("voltage")

    @attribute(dtype=float, unit="A", format="%.3e", doc="mean current of the last point", **events())
    def current(self):
        return self._read("current")

    @attribute(dtype=(float,), max_dim_x=1001, unit="V", doc="the scan's voltages so far")
    def iv_voltages(self):
        return [p.voltage for p in self.manager.result.points] if self.manager else []

    @attribute(dtype=(float,), max_dim_x=1001, unit="A", doc="the scan's currents so far")
    def iv_currents(self):
        return [p.current for p in self.manager.result.points] if self.manager else []

    @command(dtype_in=str, doc_in="a preset (quick_test, before_encapsulation, after_encapsulation) or JSON settings",
             dtype_out=int, doc_out="the run number")
    def Start(self, request: str) -> int:
        if self.manager is None:
            tango.Except.throw_exception("IvScan_NotConfigured", self.get_status(), "Start")
        defaults = {"v_step": self.v_step, "settle_s": self.settle_s, "compliance_a": self.compliance,
                    "samples": self.samples}
        try:
            settings = parse_request(request, defaults, self.max_voltage)
            return self.manager.start(settings)
        except (ValueError, RunRefused) as exc:
            tango.Except.throw_exception("IvScan_StartRefused", str(exc), "Start")

    @command(doc_in="abort the scan (it ramps down); nothing when none is going")
    def Abort(self) -> None:
        if self.manager is None:
            tango.Except.throw_exception("IvScan_NotConfigured", self.get_status(), "Abort")
        self.manager.abort()
