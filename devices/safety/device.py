"""The station's software interlock as a Tango device.

It subscribes (stateless) to every input its rules and permits read, feeds
each reading to the rule engine on a worker thread (the Tango callback only
enqueues), and on a trip sends the rule's commands to the other devices,
records the trip, and keeps the rule latched until Acknowledge + Reset.
Devices ask it ``CheckPermit([device, command])`` before a guarded command
(PowerSupplyChannel does, for On).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tango
from tango import DevState
from tango.server import Device, attribute, command, device_property

from devices import alarm_log
from devices.property_checks import refuse_bad_properties
from devices.safety.actions import ParallelActions
from devices.safety.liveness import Liveness
from devices.safety.module import Module
from devices.safety.rules import Engine, RuleError, Sample, Trip, parse_rules
from devices.safety.sequence import Sequence, SequenceFailed
from devices.subscriptions import EventSubscriptions
from devices.tango_events import HEARTBEAT, own_properties

log = logging.getLogger(__name__)
_INVALID = tango.AttrQuality.ATTR_INVALID


class _Forwarder:
    """Event callback of one input: enqueue only."""

    def __init__(self, key, inbox: queue.Queue):
        self.key, self.inbox = key, inbox

    def push_event(self, event) -> None:
        received = time.time()
        if event.err:
            reason = event.errors[0].reason if event.errors else "?"
            if reason == "API_EventTimeout" or "Unreachable" in reason or reason.startswith("API_"):
                value = "UNREACHABLE" if self.key[0] == "state" else None
                self.inbox.put((self.key, Sample(value, False, received), received))
            return
        data = event.attr_value
        stamp = data.time.totime()
        value = data.value
        if self.key[0] == "state":
            value = str(value)
        elif hasattr(value, "item"):
            value = value.item()
        self.inbox.put((self.key, Sample(value, data.quality != _INVALID, stamp), received))


def _describe(exc: Exception) -> str:
    if isinstance(exc, tango.DevFailed) and exc.args:
        return exc.args[0].desc.strip()
    return f"{type(exc).__name__}: {exc}"


class _Beats:
    """Event callback of an input device's heartbeat: note that it beats (errors are silence)."""

    def __init__(self, device: str, liveness: Liveness):
        self.device, self.liveness = device, liveness

    def push_event(self, event) -> None:
        if not event.err:
            self.liveness.beat(self.device)


def _device_of(key: tuple[str, str]) -> str:
    kind, name = key
    return name if kind == "state" else name.rsplit("/", 1)[0]


CHECK_PERIOD_S = 0.2  # how often silent and never-read inputs are fed to the rules as unknown
# power sequences running together; more wait their turn. Each polls its devices every 0.25 s:
# at N = 100, all 100 at once power on in 23-27 s with none failed (25 at once: 60 s, in 4 waves)
SEQUENCES_AT_ONCE = 100
SUBSCRIBED_MARGIN_S = 2.0  # after the subscriptions: an input whose first event has not come yet is unknown


class SafetyInterlock(Device):
    """Software interlock: rules over other devices' readings, debounced and latched, acting by Tango commands."""

    rules = device_property(dtype=str, default_value="{}", doc="the station file's safety section as JSON (config apply writes it)")
    grace_period = device_property(dtype=float, default_value=15.0, doc="seconds after start before a rule may trip")
    trip_log = device_property(dtype=str, default_value="", doc="JSON-lines file of trips (alarm records); empty: none")
    modules = device_property(dtype=str, default_value="[]", doc="the station file's modules as JSON (config apply writes it)")
    heartbeats = device_property(dtype=str, default_value="{}",
                                 doc="input devices that beat, as JSON {device: seconds}: silent longer, their inputs "
                                     "are stale (config apply writes it: several polling periods)")

    def init_device(self) -> None:
        super().init_device()
        self.set_change_event("State", True, False)
        self.set_change_event("Status", True, False)
        self._inbox: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._proxies: dict[str, tango.DeviceProxy] = {}
        self._actions = ParallelActions(lambda device, cmd: self._proxy(device).command_inout(cmd), _describe)
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interlock-recorder")  # in trip order
        self._subscriptions = EventSubscriptions(self._proxy, tango.Database, name="interlock-restart-watcher")
        self._last_trip: dict = {}
        self._liveness = Liveness({})
        self._synthetic: set[tuple[str, str]] = set()  # inputs whose sample now is "unknown", fed by the checks
        self._alarm_event = "{}"
        self._sequences: dict[str, threading.Thread] = {}
        self._sequence_slots = threading.BoundedSemaphore(SEQUENCES_AT_ONCE)
        self._sequence_log: list[str] = []
        try:
            self._modules = {m.name: m for m in (Module.model_validate(raw) for raw in json.loads(self.modules))}
        except (ValueError, TypeError) as exc:
            self._modules = {}
            log.error("bad modules property: %s", exc)
        self.trip_latencies_ms: list[float] = []
        try:
            refuse_bad_properties("SafetyInterlock", own_properties(self))
            parsed_rules, permits = parse_rules(json.loads(self.rules), self.get_name())
        except (RuleError, ValueError) as exc:
            self.engine = None
            self.set_state(DevState.FAULT)
            self.set_status(f"configuration error: {exc}")
            return
        self.engine = Engine(parsed_rules, permits, self.grace_period)
        try:
            bounds = {str(k).lower(): float(v) for k, v in json.loads(self.heartbeats).items()}
        except (ValueError, TypeError, AttributeError) as exc:
            bounds = {}
            log.error("bad heartbeats property (no liveness checks): %s", exc)
        inputs = {_device_of(k) for k in self.engine.inputs()}
        self._liveness = Liveness({d: b for d, b in bounds.items() if d in inputs})
        self._restore_latches()
        self._worker = threading.Thread(target=self._run, name="interlock", daemon=True)
        self._worker.start()
        # Subscribed from a thread, not here: a server that is starting (exported, not serving yet)
        # makes each call wait for its timeout, and a server answers nobody until init_device returns.
        # Started by Starter with the servers it watches, the interlock would not answer for a minute.
        self._subscriber = threading.Thread(target=self._subscribe_inputs, name="interlock-subscriber", daemon=True)
        self._subscriber.start()
        self._publish()

    def _subscribe_inputs(self) -> None:
        for kind, name in sorted(self.engine.inputs()):
            if self._stop.is_set():
                return
            device, attr = (name, "State") if kind == "state" else name.rsplit("/", 1)
            try:
                self._subscriptions.add(device, attr, tango.EventType.CHANGE_EVENT, _Forwarder((kind, name), self._inbox))
            except tango.DevFailed as exc:  # stateless: only a device the database does not know gets here
                log.error("cannot subscribe to %s/%s, a rule input: %s", device, attr, exc.args[0].desc.strip())
        log.info("subscribed to the %d inputs of the rules", len(self.engine.inputs()))
        self._liveness.restart()
        for device in sorted(self._liveness.bounds):
            try:
                self._subscriptions.add(device, HEARTBEAT, tango.EventType.CHANGE_EVENT, _Beats(device, self._liveness))
            except tango.DevFailed as exc:
                log.error("cannot subscribe to the heartbeat of %s: %s", device, exc.args[0].desc.strip())
        self._subscribed_at = time.time()  # from now on an input never read is unknown, so unsafe
        for device in sorted({a.device for state in self.engine.rules.values() for a in state.rule.actions}):
            try:  # the action targets' proxies made now, not at the trip
                self._proxy(device)
            except tango.DevFailed as exc:
                log.warning("no proxy yet for %s, a rule's action target: %s", device, exc.args[0].desc.strip())
        self._subscriptions.watch()

    def delete_device(self) -> None:
        self._stop.set()
        subscriber = getattr(self, "_subscriber", None)
        if subscriber is not None:
            subscriber.join(timeout=30)
        self._subscriptions.close()
        self._actions.close()
        self._recorder.shutdown(wait=False)

    def _proxy(self, device: str) -> tango.DeviceProxy:
        """The cached proxy of ``device``. Made without a lock: making one talks to the device, so a
        hung device would hold every other action worker behind it (two made at once: one is kept)."""
        proxy = self._proxies.get(device)
        if proxy is None:
            proxy = tango.DeviceProxy(device)
            proxy.set_timeout_millis(3000)
            proxy = self._proxies.setdefault(device, proxy)
        return proxy

    # ---------------------------------------------------------------- worker
    def _run(self) -> None:
        was_grace = True
        checked = 0.0
        while not self._stop.is_set():
            try:
                key, sample, received = self._inbox.get(timeout=CHECK_PERIOD_S)
            except queue.Empty:
                key = None
            if key is not None:
                with self._lock:
                    self._synthetic.discard(key)
                    trips = self.engine.update(key, sample)
                if trips:
                    self._act(trips, received)
            if time.monotonic() - checked >= CHECK_PERIOD_S:
                checked = time.monotonic()
                self._check_unknown()
            if key is not None or (was_grace and not self.engine.in_grace):
                was_grace = self.engine.in_grace
                self._publish()

    def _check_unknown(self) -> None:
        """Once armed: every input never read, or of a device whose heartbeat stopped, is fed to
        the rules as unknown (unsafe) at each check, so their debounce counts it like readings.
        A device that beats again has its inputs read at once (their change events may not come
        again: a constant value sends none)."""
        subscribed_at = getattr(self, "_subscribed_at", None)
        if self.engine.in_grace or subscribed_at is None or time.time() - subscribed_at < SUBSCRIBED_MARGIN_S:
            return
        silent, resumed = self._liveness.check()
        for key in sorted(k for k in self.engine.inputs() if _device_of(k) in resumed):
            self._refresh(key)
        now = time.time()
        with self._lock:
            unknown = sorted(k for k in self.engine.inputs()
                             if k not in self.engine.samples or k in self._synthetic or _device_of(k) in silent)
            trips = []
            for key in unknown:
                self._synthetic.add(key)
                trips += self.engine.update(key, Sample("UNKNOWN" if key[0] == "state" else None, False, now))
        if trips:
            self._act(trips, now)
        if trips or resumed or silent != getattr(self, "_published_silent", set()):
            self._published_silent = set(silent)
            self._publish()

    def _refresh(self, key: tuple[str, str]) -> None:
        kind, name = key
        try:
            proxy = self._proxy(_device_of(key))
            if kind == "state":
                sample = Sample(str(proxy.state()), True, time.time())
            else:
                data = proxy.read_attribute(name.rsplit("/", 1)[1])
                value = data.value.item() if hasattr(data.value, "item") else data.value
                sample = Sample(value, data.quality != _INVALID, data.time.totime())
        except tango.DevFailed as exc:
            log.warning("%s beats again but cannot be read: %s", _device_of(key), exc.args[0].desc.strip())
            return
        with self._lock:
            self._synthetic.discard(key)
            trips = self.engine.update(key, sample)
        if trips:
            self._act(trips, time.time())

    def _act(self, trips: list[Trip], received: float) -> None:
        """Every action of every trip sent at once, and nothing waited for here: a slow or dead
        device delays neither the other actions nor the next readings. Each trip is recorded
        with its actions' results when they have all ended (within their devices' timeout)."""
        for trip in trips:
            self._recorder.submit(self._record_trip, trip, self._actions.start(trip.actions), received)

    def _record_trip(self, trip: Trip, futures: list, received: float) -> None:
        try:
            self._write_trip(trip, [f.result() for f in futures], received)
        except Exception:  # noqa: BLE001 - on the recorder thread: logged, the next trip still recorded
            log.exception("recording the trip of %s failed", trip.rule)

    def _write_trip(self, trip: Trip, results: list[dict], received: float) -> None:
        latency_ms = (max(r["issued"] for r in results) - received) * 1e3 if results else 0.0
        self.trip_latencies_ms.append(latency_ms)
        record = {"rule": trip.rule, "time": trip.time, "values": trip.values, "actions": results,
                  "latency_ms": round(latency_ms, 3)}
        self._last_trip = record
        log.warning("interlock %s tripped: %s -> %s", trip.rule, trip.values, results)
        self._record("raised", trip.rule, values=trip.values, actions=results, latency_ms=record["latency_ms"],
                     message=self.engine.rules[trip.rule].rule.description)
        self.push_change_event("last_trip", json.dumps(record))

    def _record(self, event: str, rule: str, **details) -> None:
        """Append an alarm event to the station's alarm log and push it as an ``alarm_event`` change
        event (the bridge publishes it on MQTT at once)."""
        entry = {"source": "interlock", "id": rule, "event": event, "device": self.get_name(), **details}
        if self.trip_log:
            entry = alarm_log.append(Path(self.trip_log), entry)
        else:
            entry = {"time": time.time(), **entry}
        self._alarm_event = json.dumps(entry, default=str)
        self.push_change_event("alarm_event", self._alarm_event)

    def _restore_latches(self) -> None:
        """After a restart: rules whose trip was never cleared stay latched, without acting again."""
        if not self.trip_log:
            return
        for record in alarm_log.records(Path(self.trip_log)):
            if record.source == "interlock" and record.active and record.id in self.engine.rules:
                self.engine.restore(record.id, record.acknowledged is not None, record.values, record.raised)
                log.warning("interlock %s is still latched from before the restart", record.id)

    def _publish(self) -> None:
        engine = self.engine
        latched = engine.latched
        if engine.in_grace:
            state, status = DevState.STANDBY, f"grace period: rules armed in {engine.armed_at - time.time():.0f} s"
        elif latched:
            state, status = DevState.ALARM, "tripped: " + ", ".join(latched) + " (Acknowledge, then Reset when clear)"
        else:
            unsafe = [n for n, s in engine.rules.items() if s.unsafe]
            state = DevState.ON
            status = "all rules clear" if not unsafe else "unsafe, not tripped yet: " + ", ".join(unsafe)
        silent = sorted(self._liveness.silent)
        if silent:
            status += "; silent (no heartbeat, inputs stale): " + ", ".join(
                f"{d} for {self._liveness.quiet_for(d):.1f} s" for d in silent)
        if state != self.get_state():
            self.set_state(state)
            self.push_change_event("State", state)
        if status != self.get_status():
            self.set_status(status)
            self.push_change_event("Status", status)

    # ------------------------------------------------------------ interface
    @attribute(dtype=(str,), max_dim_x=256, doc="every rule as 'name: OK | UNSAFE | TRIPPED [(acknowledged)]'")
    def rule_states(self):
        if self.engine is None:
            return []
        return [f"{name}: {state.label}" for name, state in self.engine.rules.items()]

    @attribute(dtype=str, doc="the last trip as JSON: rule, time, values, actions and their results",
               change_event_implemented=True, change_event_detect=False)
    def last_trip(self):
        return json.dumps(self._last_trip)

    @attribute(dtype=str, doc="the last alarm event written (JSON: time, source, id, event raised / acknowledged / cleared, "
                              "values); a change event for each", change_event_implemented=True, change_event_detect=False)
    def alarm_event(self):
        return self._alarm_event

    @attribute(dtype=bool, doc="a rule is latched")
    def tripped(self):
        return bool(self.engine and self.engine.latched)

    def _engine_call(self, origin: str, function, *args):
        if self.engine is None:
            tango.Except.throw_exception("Interlock_NotConfigured", self.get_status(), origin)
        try:
            with self._lock:
                return function(*args)
        except ValueError as exc:
            tango.Except.throw_exception("Interlock_Refused", str(exc), origin)

    @command(dtype_in=str, doc_in="rule name")
    def Acknowledge(self, rule: str) -> None:
        """The operator saw the trip."""
        self._engine_call("Acknowledge", lambda name: self.engine.acknowledge(name), rule)
        self._record("acknowledged", rule)
        self._publish()

    @command(dtype_in=str, doc_in="rule name")
    def Reset(self, rule: str) -> None:
        """Unlatch an acknowledged rule whose condition is clear."""
        self._engine_call("Reset", lambda name: self.engine.reset(name), rule)
        self._record("cleared", rule)
        self._publish()

    # ----------------------------------------------------------- sequencing
    @attribute(dtype=(str,), max_dim_x=4096,
               doc="steps of the PowerOn/PowerOff sequences started since none ran, newest last")
    def sequence_log(self):
        return list(self._sequence_log)

    @attribute(dtype=bool, doc="a power sequence is running")
    def sequencing(self):
        return any(t.is_alive() for t in self._sequences.values())

    def _start_sequence(self, module: str, on: bool, origin: str) -> None:
        """Each module's sequence on a thread of its own: modules power on in parallel, a module
        runs one sequence at a time."""
        if module not in self._modules:
            known = ", ".join(self._modules) or "none defined"
            tango.Except.throw_exception("Interlock_UnknownModule", f"unknown module {module!r} (modules: {known})", origin)
        with self._lock:
            running = self._sequences.get(module)
            if running is not None and running.is_alive():
                tango.Except.throw_exception("Interlock_Busy", f"a power sequence of {module} is running already", origin)
            if not any(t.is_alive() for t in self._sequences.values()):
                self._sequence_log = []
            log_line = self._sequence_log.append
            sequence = Sequence(self._modules[module], report=log_line)

            def run():
                with self._sequence_slots:  # at most SEQUENCES_AT_ONCE run, the others wait their turn
                    try:
                        if on:
                            sequence.check()
                        (sequence.power_on if on else sequence.power_off)()
                        log_line(f"done: {module} is {'on' if on else 'off'}")
                    except (SequenceFailed, ValueError) as exc:
                        log_line(f"FAILED: {module}: {exc}")

            thread = threading.Thread(target=run, name=f"sequence-{module}", daemon=True)
            self._sequences[module] = thread
            thread.start()

    @command(dtype_in=str, doc_in="module name")
    def PowerOn(self, module: str) -> None:
        """Start the module's sequence: LV on, LV stable, HV ramp up (follow sequence_log)."""
        self._start_sequence(module, True, "PowerOn")

    @command(dtype_in=str, doc_in="module name")
    def PowerOff(self, module: str) -> None:
        """Start the module's sequence: HV ramp down and off, then LV off (follow sequence_log)."""
        self._start_sequence(module, False, "PowerOff")

    @command(dtype_in=(str,), doc_in="[device, command]", dtype_out=str, doc_out="empty when allowed, else why not")
    def CheckPermit(self, request) -> str:
        """May DEVICE run COMMAND now? Called by guarded devices before acting."""
        if len(request) != 2:
            tango.Except.throw_exception("Interlock_BadRequest", "CheckPermit takes [device, command]", "CheckPermit")
        if self.engine is None:
            return f"interlock not configured: {self.get_status()}"
        with self._lock:
            return self.engine.permit(request[0], request[1]) or ""
