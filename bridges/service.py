"""The bridge process: wire the station file's choices into sources, sinks and the gateway.

    python -m bridges STATION_FILE      (also: trackerdcs bridge FILE; started by trackerdcs up)

Health: every second the counters go to ``dcs/$bridge/health`` (retained
JSON) and to ``<data_dir>/run/bridge-health.json``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import threading
import time

import tango

from bridges.archive_sink import ArchiveSink
from bridges.archived_events import HEALTH_PERIOD_S, alarm_reading, health_readings
from bridges.attribute_alarms import AttributeAlarms
from bridges.gateway import CommandGateway, Permissions
from bridges.mqtt_client import MqttConnection, Outbox
from bridges.mqtt_sink import MqttSink
from bridges.pipeline import TO_ARCHIVE, TO_MQTT, Pipeline
from bridges.stats import BridgeStats
from bridges.tango_source import JsonEventForwarder, TangoSource, Target
from bridges.wal import WriteAheadLog
from bridges.wal_sink import WalSink
from db.archive.open import open_writer
from db.config.station import LoadedStation
from devices import alarm_log

log = logging.getLogger("trackerdcs.bridge")

RESTARTS_ALLOWED = 5  # thread restarts within RESTART_WINDOW_S; beyond, the process exits and the launcher restarts it
RESTART_WINDOW_S = 300.0
DEGRADED_AFTER_ERROR_S = 60.0  # health says degraded this long after an error was counted
EXIT_UNRECOVERABLE = 70


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bridge:
    def __init__(self, station: LoadedStation):
        self.station = station
        config = station.station.bridge
        self.stats = BridgeStats()
        self.wal = WriteAheadLog(station.data_dir / "spool")
        self.archive = ArchiveSink(open_writer(station), self.wal, self.stats)
        outbox = Outbox()
        self.gateway = CommandGateway(outbox, config.mqtt.topic_prefix, station.tango_host, self.permissions(),
                                      station.data_dir / "log" / "mqtt-audit.jsonl", config.mqtt.max_payload)
        self.connection = MqttConnection(station, self._on_connect, outbox, on_message=self.gateway.on_message,
                                         subscriptions=self.gateway.subscriptions())
        self.mqtt = MqttSink(self.connection, config.mqtt.topic_prefix, config.mqtt.qos, self.stats)
        self.alarm_file = alarm_log.alarm_file(station.data_dir)
        self.alarms = alarm_log.AlarmBoard.from_file(self.alarm_file)  # once, at start; then from events as they come
        self._alarms_lock = threading.Lock()
        self.pipeline = Pipeline([
            WalSink(self.wal, self.archive, config.archive.batch_size, config.archive.flush_interval),  # first: durable
            AttributeAlarms(self.alarm_file, self.alarms.active("attribute"), self.alarm_event),
            self.mqtt,
        ], self.stats, config.queue_size)
        self.source = TangoSource(station.tango_host, self.stats)
        self._stop = threading.Event()
        self.health_file = station.data_dir / "run" / "bridge-health.json"
        self.exit_code = 0
        self._restarts: list[tuple[float, str]] = []  # (time, reason) of each thread restart
        self._thread_errors: dict[str, str] = {}  # thread name -> the exception that ended it
        self._errors_seen = (0, 0)
        self._last_error_at = 0.0
        self._components = {"pipeline": self.pipeline, "mqtt-gateway": self.gateway, "archive-sink": self.archive}

    def permissions(self) -> dict[str, Permissions]:
        result = {}
        for device in self._all_devices():
            result[device.name] = Permissions(frozenset(device.mqtt.write), frozenset(device.mqtt.commands),
                                              dict(device.mqtt.limits))
        return result

    def _all_devices(self):
        return [d for _, d in self.station.station.devices()] + list(self.station.station.external_devices)

    def targets(self) -> list[Target]:
        archive_event = self.station.station.bridge.archive_events
        targets = []
        for device in self._all_devices():
            published = False
            for attribute, config in device.attributes.items():
                change_route = archive_route = 0
                if config.publish:
                    change_route |= TO_MQTT
                    published = True
                if config.archive:
                    if archive_event == "change":
                        change_route |= TO_ARCHIVE
                    else:
                        archive_route |= TO_ARCHIVE
                if change_route:
                    targets.append(Target(device.name, attribute, "change", change_route, config.unit))
                if archive_route:
                    targets.append(Target(device.name, attribute, "archive", archive_route, config.unit))
            if published:
                targets.append(Target(device.name, "State", "change", TO_MQTT | TO_ARCHIVE, ""))
        return targets

    def _on_connect(self) -> None:
        self.mqtt.republish_requested.set()
        with self._alarms_lock:
            records = self.alarms.latest()
        for record in records:  # every alarm's latest record, retained, also after a broker restart
            self._post_alarm(record)

    def _thread_died(self, args) -> None:  # threading.excepthook
        name = args.thread.name if args.thread is not None else "?"
        self._thread_errors[name] = f"{args.exc_type.__name__}: {args.exc_value}"
        log.error("thread %s ended by an exception", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    def supervise(self) -> None:
        """Start again any of the bridge's threads that ended; exit (for the launcher to restart
        the process) when they keep ending."""
        now = time.monotonic()
        for name, component in self._components.items():
            if component.alive() or self._stop.is_set():
                continue
            reason = f"{name} thread ended ({self._thread_errors.pop(name, 'no exception')})"
            self._restarts = [r for r in self._restarts if now - r[0] < RESTART_WINDOW_S] + [(now, reason)]
            if len(self._restarts) > RESTARTS_ALLOWED:
                log.critical("%s; %d restarts within %.0f s: exiting so that the launcher restarts the bridge",
                             reason, len(self._restarts) - 1, RESTART_WINDOW_S)
                self.exit_code = EXIT_UNRECOVERABLE
                self.request_stop()
                return
            log.error("%s; starting it again", reason)
            component.start()

    def errors(self) -> tuple[int, int]:
        """(gateway errors, pipeline errors) so far."""
        return (self.gateway.errors,
                self.stats.pipeline_errors + self.connection.refused + self.archive.errors)

    def condition(self) -> tuple[str, str]:
        """("ok" | "degraded", why)."""
        now = time.monotonic()
        errors = self.errors()
        if errors != self._errors_seen:
            self._errors_seen, self._last_error_at = errors, now
        reasons = [reason for at, reason in self._restarts if now - at < RESTART_WINDOW_S]
        if self._last_error_at and now - self._last_error_at < DEGRADED_AFTER_ERROR_S:
            reasons.append(f"errors counted in the last {DEGRADED_AFTER_ERROR_S:.0f} s "
                           f"(gateway {errors[0]}, pipeline {errors[1]}; see bridge.log)")
        return ("degraded", "; ".join(reasons)) if reasons else ("ok", "")

    def start(self) -> None:
        threading.excepthook = self._thread_died
        self.archive.start()
        self.pipeline.start()
        self.gateway.start()
        host, port = self.station.station.bridge.mqtt.broker
        started = time.monotonic()
        targets = self.targets()
        self.source.subscribe(targets, self.pipeline.offer)
        for _, device in self.station.station.devices():
            if device.class_ == "SafetyInterlock":
                self.source.subscriptions.add(device.name, "alarm_event", tango.EventType.CHANGE_EVENT,
                                              JsonEventForwarder(self._interlock_event))
        log.info("bridge up: %d subscriptions in %.2f s, archive %s, MQTT %s:%d", len(targets),
                 time.monotonic() - started, self.station.station.bridge.archive.backend, host, port)
        _freeze_startup_objects()
        self.report_health()  # the launcher waits for this first report: from here on every event is archived

    def health(self) -> dict:
        s = self.stats
        condition, reason = self.condition()
        gateway_errors, pipeline_errors = self.errors()
        return {
            "status": condition, "reason": reason, "gateway_errors": gateway_errors, "pipeline_errors": pipeline_errors,
            "thread_restarts": len(self._restarts), "subscription_errors": dict(s.subscription_errors),
            "events_in": s.events_in, "event_errors": s.event_errors, "archived": s.archived,
            "archive_rejected": s.archive_rejected, "spooled": self.wal.pending_points + self.wal.open_points,
            "published": s.published, "dropped": s.dropped, "queue": self.pipeline.depth,
            "archive_available": self.archive.available, "archive_lag_ms": round(s.archive_lag_ms, 1),
            "mqtt_lag_ms": round(s.mqtt_lag_ms, 1), "archive_commit_p99_ms": round(percentile(s.archive_commit_ms, 0.99), 2),
            "gateway_requests": self.gateway.handled,
            "resubscribed": self.source.subscriptions.resubscribed, "uptime_s": round(time.time() - s.started, 1), "pid": os.getpid(),
        }

    def alarm_event(self, event: dict) -> None:
        """An alarm event as it is written (attribute alarms: the pipeline; interlock trips: the
        interlock's alarm_event attribute): its record goes to dcs/$alarms/<source>/<id>, retained."""
        with self._alarms_lock:
            record = self.alarms.apply(event)
        if record is not None:
            self._post_alarm(record)
        point = alarm_reading(self.station.name, event)
        if point is not None:  # Grafana's annotations (bridges/archived_events.py)
            self.pipeline.offer(point, TO_ARCHIVE)

    def _post_alarm(self, record: alarm_log.AlarmRecord) -> None:
        prefix = self.station.station.bridge.mqtt.topic_prefix
        self.connection.post(f"{prefix}/$alarms/{record.source}/{record.id}", alarm_log.payload(record), qos=1, retain=True)

    def _interlock_event(self, event: dict) -> None:  # Tango event thread: fold and hand over only
        if event.get("event") in ("raised", "acknowledged", "cleared"):
            self.alarm_event(event)

    def report_health(self) -> None:
        """The health counters to dcs/$bridge/health and to <data_dir>/run/bridge-health.json."""
        payload = json.dumps(self.health())
        self.connection.post(f"{self.station.station.bridge.mqtt.topic_prefix}/$bridge/health", payload, qos=0, retain=True)
        temp = self.health_file.with_suffix(".tmp")
        temp.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(payload)
        temp.replace(self.health_file)

    def run(self) -> None:
        archived_at = time.monotonic()
        while not self._stop.wait(1.0):
            self.supervise()
            try:
                self.report_health()
            except Exception:  # e.g. a full disk: logged, tried again next second
                log.exception("the health report failed")
            if time.monotonic() - archived_at >= HEALTH_PERIOD_S:
                archived_at = time.monotonic()
                for point in health_readings(self.station.name, self.health()):
                    self.pipeline.offer(point, TO_ARCHIVE)

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self.source.close()
        self.gateway.stop()
        self.pipeline.stop()
        self.pipeline.save_queued()  # what a dead pipeline thread left in memory goes to the write-ahead log
        self.archive.stop()
        self.wal.close()
        self.connection.close()


def _freeze_startup_objects() -> None:
    """Leave what start-up made (~80,000 objects: pytango, numpy, paho, urllib3, the proxies)
    out of the cyclic garbage collector's passes. A full pass over them held the GIL for
    14-27 ms, during which no event callback could run: it was the MQTT latency's p99 at
    10k events/s (44 ms; bench/bridge.py). The hot path's objects are freed by reference
    counting and are not affected."""
    gc.collect()
    gc.freeze()


def run_bridge(station: LoadedStation) -> int:
    bridge = Bridge(station)

    def _signal(signum, _frame):
        log.info("signal %d: stopping the bridge", signum)
        bridge.request_stop()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    bridge.start()
    try:
        bridge.run()
    finally:
        bridge.stop()
    return bridge.exit_code
