"""Attributes entering and leaving ALARM quality become alarm records (devices/alarm_log.py),
written to the station's alarm log and handed on at once (the bridge publishes them)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from db.archive.reading import Reading
from devices import alarm_log


class AttributeAlarms:
    name = "attribute alarms"
    durable = False

    def __init__(self, path: Path, active: Iterable[str], on_event: Callable[[dict], None]):
        self.path = Path(path)
        self.on_event = on_event
        # alarms active before a restart are known: they are not raised again as new
        self.in_alarm: set[tuple[str, str]] = {tuple(alarm_id.rsplit("/", 1)) for alarm_id in active}

    def take(self, chunk) -> None:
        self.watch(reading for reading, _ in chunk)

    def tick(self, stopping: bool, busy: bool) -> None:
        pass

    def watch(self, readings: Iterable[Reading]) -> None:
        for reading in readings:
            key = (reading.device, reading.attribute)
            if reading.quality == "ALARM" and key not in self.in_alarm:
                self.in_alarm.add(key)
                self._write({"source": "attribute", "id": f"{reading.device}/{reading.attribute}", "event": "raised",
                             "values": {"value": reading.value},
                             "message": f"{reading.attribute} of {reading.device} in ALARM"})
            elif key in self.in_alarm and reading.quality in ("VALID", "WARNING"):
                self.in_alarm.discard(key)
                self._write({"source": "attribute", "id": f"{reading.device}/{reading.attribute}", "event": "cleared",
                             "values": {"value": reading.value}})

    def _write(self, event: dict) -> None:
        self.on_event(alarm_log.append(self.path, event))
