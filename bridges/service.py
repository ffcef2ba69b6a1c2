"""The bridge process: wire the station file's choices into sources, sinks and the gateway.

    python -m bridges STATION_FILE      (also: trackerdcs bridge FILE; started by trackerdcs up)

Health: every second the counters go to ``dcs/$bridge/health`` (retained
JSON) and to ``<data_dir>/run/bridge-health.json``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time

from bridges.archive_sink import ArchiveSink
from bridges.gateway import CommandGateway, Permissions
from bridges.mqtt_client import make_client
from bridges.mqtt_sink import MqttSink
from bridges.spool import Spool
from bridges.stats import BridgeStats
from bridges.tango_source import TangoSource, Target
from db.archive.open import open_writer
from db.station import LoadedStation

log = logging.getLogger("trackerdcs.bridge")


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
        self.spool = Spool(station.data_dir / "spool")
        self.archive = ArchiveSink(open_writer(station), self.spool, self.stats, config.archive.batch_size,
                                   config.archive.flush_interval, config.queue_size)
        self.client = make_client(station, self._on_connect)
        self.mqtt = MqttSink(self.client, config.mqtt.topic_prefix, self.stats, config.mqtt.qos, config.queue_size)
        self.gateway = CommandGateway(self.client, config.mqtt.topic_prefix, station.tango_host, self.permissions(),
                                      station.data_dir / "log" / "mqtt-audit.jsonl", config.mqtt.max_payload)
        self.client.on_message = self.gateway.on_message
        self.source = TangoSource(station.tango_host, self.stats)
        self._stop = threading.Event()
        self.health_file = station.data_dir / "run" / "bridge-health.json"

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
                sinks_change, sinks_archive = [], []
                if config.publish:
                    sinks_change.append(self.mqtt)
                    published = True
                if config.archive:
                    (sinks_change if archive_event == "change" else sinks_archive).append(self.archive)
                if sinks_change:
                    targets.append(Target(device.name, attribute, "change", tuple(sinks_change), config.unit))
                if sinks_archive:
                    targets.append(Target(device.name, attribute, "archive", tuple(sinks_archive), config.unit))
            if published:
                targets.append(Target(device.name, "State", "change", (self.mqtt, self.archive), ""))
        return targets

    def _on_connect(self) -> None:
        self.gateway.subscribe()
        self.mqtt.republish_all()

    def start(self) -> None:
        self.archive.start()
        self.mqtt.start()
        self.gateway.start()
        host, port = self.station.station.bridge.mqtt.broker
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()
        started = time.monotonic()
        targets = self.targets()
        self.source.subscribe(targets)
        log.info("bridge up: %d subscriptions in %.2f s, archive %s, MQTT %s:%d", len(targets),
                 time.monotonic() - started, self.station.station.bridge.archive.backend, host, port)

    def health(self) -> dict:
        s = self.stats
        return {
            "events_in": s.events_in, "event_errors": s.event_errors, "archived": s.archived,
            "archive_rejected": s.archive_rejected, "spooled": self.spool.points, "published": s.published,
            "dropped": s.dropped, "archive_queue": self.archive.depth, "mqtt_queue": self.mqtt.depth,
            "archive_available": self.archive.available, "archive_lag_ms": round(s.archive_lag_ms, 1),
            "mqtt_lag_ms": round(s.mqtt_lag_ms, 1), "archive_commit_p99_ms": round(percentile(s.archive_commit_ms, 0.99), 2),
            "gateway_requests": self.gateway.handled, "uptime_s": round(time.time() - s.started, 1), "pid": os.getpid(),
        }

    def run(self) -> None:
        prefix = self.station.station.bridge.mqtt.topic_prefix
        while not self._stop.wait(1.0):
            health = self.health()
            payload = json.dumps(health)
            self.client.publish(f"{prefix}/$bridge/health", payload, qos=0, retain=True)
            temp = self.health_file.with_suffix(".tmp")
            temp.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(payload)
            temp.replace(self.health_file)

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self.source.close()
        self.gateway.stop()
        self.archive.stop()
        self.mqtt.stop()
        prefix = self.station.station.bridge.mqtt.topic_prefix
        info = self.client.publish(f"{prefix}/$bridge/status", "offline", qos=1, retain=True)
        try:
            info.wait_for_publish(timeout=2)
        except (RuntimeError, ValueError):
            pass
        self.client.disconnect()
        self.client.loop_stop()


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
    return 0
