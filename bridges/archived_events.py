"""Alarm events and the bridge's own health figures as archive points, so that Grafana
shows trips on the trends that explain them and the bridge's health over time.

- An alarm event (raised, acknowledged, cleared; interlock rules and attribute alarms)
  is a point of measurement ``alarm``: device ``<station>/alarm/<source>``, attribute the
  alarm's id (rule name or device/attribute), text ``"<event>: <message>"``, stamped with
  the event's own time. The same event archived twice (the interlock's ``alarm_event``
  is read again after a bridge restart) is the same point: InfluxDB keeps one.
- The health figures are points of measurement ``bridge``: device ``<station>/bridge/health``,
  one attribute per counter, every ``HEALTH_PERIOD_S``.

Both travel the lossless path of every reading (write-ahead log, then the archive sink).
"""

from __future__ import annotations

import time

from db.archive.reading import Reading

HEALTH_PERIOD_S = 10.0
HEALTH_FIGURES = ("events_in", "archived", "published", "dropped", "spooled", "queue", "archive_lag_ms",
                  "mqtt_lag_ms", "archive_commit_p99_ms", "gateway_requests", "resubscribed", "event_errors",
                  "pipeline_errors")
ALARM_EVENTS = ("raised", "acknowledged", "cleared")


def alarm_device(station: str, source: str) -> str:
    return f"{station}/alarm/{source}"


def alarm_reading(station: str, event: dict) -> Reading | None:
    """The archive point of one alarm event; None for anything that is not one."""
    kind = event.get("event")
    if kind not in ALARM_EVENTS:
        return None
    try:
        stamp = float(event.get("time", time.time()))
    except (TypeError, ValueError):
        stamp = time.time()
    message = str(event.get("message") or "")
    text = f"{kind}: {message}" if message else str(kind)
    # quality VALID: an ALARM quality would make the bridge's attribute alarms raise an alarm of the alarm
    return Reading(alarm_device(station, str(event.get("source", "?"))), str(event.get("id", "?")), text,
                   "VALID", "", int(stamp * 1e9))


def health_readings(station: str, health: dict, now: float | None = None) -> list[Reading]:
    """The numeric health figures as points (booleans and text are left to MQTT)."""
    stamp = int((now or time.time()) * 1e9)
    device = f"{station}/bridge/health"
    return [Reading(device, name, float(health[name]), "VALID", "", stamp)
            for name in HEALTH_FIGURES if isinstance(health.get(name), (int, float))]
