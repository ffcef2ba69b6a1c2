"""The station's alarm log, the one module that knows its format: an append-only
JSON-lines file, ``<data_dir>/log/alarms.jsonl``.

Every line is an event of one alarm: ``{"time", "source", "id", "event", ...}``
with event ``raised``, ``acknowledged`` or ``cleared``. Writers: the
SafetyInterlock (rule trips, Acknowledge, Reset; it also pushes each event as
a change event of its ``alarm_event`` attribute) and the bridge (attributes
entering and leaving ALARM quality). ``records()`` folds the events into one
record per occurrence; the file survives restarts, so an alarm that was
active before a restart is known and is not raised again as new. The bridge
keeps an ``AlarmBoard`` of the latest record of every alarm and publishes
each change on ``dcs/$alarms/<source>/<id>`` (retained) as it happens, which
is how the panel and Node-RED see alarms from any PC.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class AlarmRecord:
    source: str  # "interlock" or "attribute"
    id: str  # rule name or device/attribute
    raised: float
    values: dict = field(default_factory=dict)
    message: str = ""
    acknowledged: float | None = None
    cleared: float | None = None

    @property
    def active(self) -> bool:
        return self.cleared is None


def alarm_file(data_dir: Path) -> Path:
    return Path(data_dir) / "log" / "alarms.jsonl"


def append(path: Path, event: dict) -> dict:
    """Append one event (stamped now unless it has a time); return it as written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    event = {"time": time.time(), **event}
    line = json.dumps(event, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())  # one write with O_APPEND: lines of several writers never interleave
    finally:
        os.close(fd)
    return json.loads(line)


def read_events(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """Events from byte offset on (complete lines only), and the offset after them."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a damaged line must not hide the others
    return events, offset + end


def fold(events: list[dict]) -> list[AlarmRecord]:
    records: list[AlarmRecord] = []
    open_records: dict[tuple[str, str], AlarmRecord] = {}
    for event in events:
        key = (event.get("source", "?"), event.get("id", "?"))
        kind = event.get("event")
        if kind == "raised":
            if key in open_records:
                continue  # already active: not a new alarm
            record = AlarmRecord(key[0], key[1], event.get("time", 0.0), event.get("values") or {},
                                 event.get("message", ""))
            records.append(record)
            open_records[key] = record
        elif key in open_records:
            if kind == "acknowledged" and open_records[key].acknowledged is None:
                open_records[key].acknowledged = event.get("time")
            elif kind == "cleared":
                open_records.pop(key).cleared = event.get("time")
    return records


def records(path: Path) -> list[AlarmRecord]:
    return fold(read_events(path)[0])


def payload(record: AlarmRecord) -> str:
    """The JSON of a record as published on MQTT."""
    return json.dumps({"source": record.source, "id": record.id, "active": record.active, "raised": record.raised,
                       "acknowledged": record.acknowledged, "cleared": record.cleared, "values": record.values,
                       "message": record.message}, default=str)


class AlarmBoard:
    """The latest record of every alarm, folded from events as they come (not re-read from the file).
    Folds like ``fold``: a raise of an active alarm is not a new alarm."""

    def __init__(self, events: list[dict] | None = None):
        self._latest: dict[tuple[str, str], AlarmRecord] = {}
        self._open: dict[tuple[str, str], AlarmRecord] = {}
        for event in events or []:
            self.apply(event)

    @classmethod
    def from_file(cls, path: Path) -> AlarmBoard:
        return cls(read_events(path)[0])

    def apply(self, event: dict) -> AlarmRecord | None:
        """Fold one event in; the alarm's latest record after it."""
        key = (str(event.get("source", "?")), str(event.get("id", "?")))
        kind, record = event.get("event"), self._open.get(key)
        if kind == "raised" and record is None:
            record = AlarmRecord(key[0], key[1], event.get("time", 0.0), event.get("values") or {}, event.get("message", ""))
            self._open[key] = self._latest[key] = record
        elif kind == "acknowledged" and record is not None and record.acknowledged is None:
            record.acknowledged = event.get("time")
        elif kind == "cleared" and record is not None:
            self._open.pop(key).cleared = event.get("time")
        return self._latest.get(key)

    def latest(self) -> list[AlarmRecord]:
        return list(self._latest.values())

    def active(self, source: str) -> set[str]:
        return {key[1] for key in self._open if key[0] == source}
