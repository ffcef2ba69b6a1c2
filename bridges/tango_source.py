"""Tango side of the bridge: subscribe to the attributes the station file marks,
turn each event into a Reading, and hand it to the sinks. The callback only
enqueues: no I/O ever happens on Tango's event thread."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import tango

from bridges.stats import BridgeStats
from db.archive.reading import Reading
from db.runtime.proxies import Proxies
from devices.subscriptions import EventSubscriptions

log = logging.getLogger("trackerdcs.bridge.tango")

SUBSCRIBING_THREADS = 8  # devices subscribed at once: each subscription is a few round trips to its server

QUALITY = {
    tango.AttrQuality.ATTR_VALID: "VALID",
    tango.AttrQuality.ATTR_INVALID: "INVALID",
    tango.AttrQuality.ATTR_ALARM: "ALARM",
    tango.AttrQuality.ATTR_WARNING: "WARNING",
    tango.AttrQuality.ATTR_CHANGING: "CHANGING",
}


@dataclass(frozen=True)
class Target:
    device: str
    attribute: str
    event: str  # "archive" or "change"
    route: int  # bit mask of the pipeline's TO_ARCHIVE / TO_MQTT
    unit: str | None = None  # None: take it from the attribute config


class EventForwarder:
    """The callback of one subscription."""

    __slots__ = ("device", "attribute", "unit", "offer", "route", "stats", "_last_error_log")

    def __init__(self, device: str, attribute: str, unit: str, offer: Callable[[Reading, int], None], route: int,
                 stats: BridgeStats):
        self.device, self.attribute, self.unit = device, attribute, unit
        self.offer, self.route = offer, route
        self.stats = stats
        self._last_error_log = 0.0

    def push_event(self, event) -> None:
        if event.err:
            self.stats.event_errors += 1
            error = event.errors[0] if event.errors else None
            reason = f"{error.reason}: {error.desc.strip().splitlines()[0]}" if error else "event error"
            self.stats.subscription_errors[f"{self.device}/{self.attribute}"] = reason
            now = time.monotonic()
            if now - self._last_error_log > 10:
                self._last_error_log = now
                log.warning("event error on %s/%s: %s", self.device, self.attribute, reason)
            return
        if self.stats.subscription_errors:
            self.stats.subscription_errors.pop(f"{self.device}/{self.attribute}", None)
        value_data = event.attr_value
        stamp = value_data.time
        value = value_data.value
        if isinstance(value, tango.DevState):
            value = str(value)
        elif hasattr(value, "item"):
            value = value.item()
        reading = Reading(self.device, self.attribute, value, QUALITY.get(value_data.quality, "VALID"), self.unit,
                          stamp.tv_sec * 1_000_000_000 + stamp.tv_usec * 1000 + stamp.tv_nsec)
        self.stats.events_in += 1
        self.offer(reading, self.route)


class JsonEventForwarder:
    """The callback of a subscription to a string attribute that carries JSON objects."""

    def __init__(self, callback: Callable[[dict], None]):
        self.callback = callback

    def push_event(self, event) -> None:
        if event.err:
            return
        try:
            data = json.loads(event.attr_value.value)
        except (TypeError, ValueError):
            return
        if isinstance(data, dict):
            try:
                self.callback(data)
            except Exception:  # never into cppTango's event thread
                log.exception("handling an event of %s failed", event.attr_name)


class TangoSource:
    """The bridge's subscriptions, subscribed again as soon as a device server restarts."""

    def __init__(self, tango_host: str, stats: BridgeStats, watch_period: float = 1.0):
        self.tango_host = tango_host
        self.stats = stats
        self.proxy = Proxies(tango_host)
        host, _, port = tango_host.rpartition(":")
        self.subscriptions = EventSubscriptions(self.proxy, lambda: tango.Database(host, int(port)), watch_period,
                                                name="bridge-restart-watcher")

    def _unit(self, proxy: tango.DeviceProxy, attribute: str) -> str:
        if attribute == "State":
            return ""
        try:
            unit = proxy.get_attribute_config(attribute).unit
        except tango.DevFailed:
            return ""
        return "" if unit in ("No unit", None) else unit

    def subscribe(self, targets: Sequence[Target], offer: Callable[[Reading, int], None]) -> None:
        """Every target's subscription, several devices at once (one device's in order); returns
        once all are made."""
        by_device: dict[str, list[Target]] = {}
        for target in targets:
            by_device.setdefault(target.device, []).append(target)

        def subscribe_device(device_targets: list[Target]) -> None:
            for target in device_targets:
                proxy = self.proxy(target.device)
                unit = target.unit if target.unit is not None else self._unit(proxy, target.attribute)
                forwarder = EventForwarder(target.device, target.attribute, unit, offer, target.route, self.stats)
                event_type = tango.EventType.ARCHIVE_EVENT if target.event == "archive" else tango.EventType.CHANGE_EVENT
                self.subscriptions.add(target.device, target.attribute, event_type, forwarder)

        with ThreadPoolExecutor(max_workers=SUBSCRIBING_THREADS, thread_name_prefix="bridge-subscribe") as pool:
            for done in [pool.submit(subscribe_device, group) for group in by_device.values()]:
                done.result()  # an error raises here, as it did from a plain loop
        log.info("subscribed to %d attribute events", len(targets))
        self.subscriptions.watch()

    def close(self) -> None:
        self.subscriptions.close()
