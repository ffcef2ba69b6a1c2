"""The station's alarm records: one append-only JSON-lines file, ``<data_dir>/log/alarms.jsonl``.

Every line is an event of one alarm: ``{"time", "source", "id", "event", ...}``
with event ``raised``, ``acknowledged`` or ``cleared``. Writers: the
SafetyInterlock (rule trips, Acknowledge, Reset) and the bridge (attributes
entering and leaving ALARM quality). ``records()`` folds the events into one
record per occurrence; the file survives restarts, so an alarm that was
active before a restart is known and is not raised again as new.
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


def append(path: Path, event: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"time": time.time(), **event}, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())  # one write with O_APPEND: lines of several writers never interleave
    finally:
        os.close(fd)


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
