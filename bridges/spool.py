"""On-disk spool of archive batches that could not be written yet.

Each batch is one segment file, written to a temporary name, fsynced and
renamed, so a bridge killed at any moment leaves only whole segments.
Segments are replayed oldest first; a replay is idempotent in every archive
(same device, attribute and timestamp), so a segment sent twice is harmless.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from db.archive.reading import Reading


class Spool:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        for stale in self.folder.glob("*.tmp"):
            stale.unlink()
        existing = self.segments()
        self._next = int(existing[-1].stem) + 1 if existing else 1
        self.points = sum(self._count(p) for p in existing)

    @staticmethod
    def _count(path: Path) -> int:
        with open(path, "rb") as handle:
            return sum(1 for _ in handle)

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob("*.jsonl"))

    def __bool__(self) -> bool:
        return self.points > 0

    def append(self, readings: list[Reading]) -> None:
        if not readings:
            return
        with self._lock:
            number, self._next = self._next, self._next + 1
            final = self.folder / f"{number:012d}.jsonl"
            temp = final.with_suffix(".tmp")
            with open(temp, "w", encoding="utf-8") as handle:
                for r in readings:
                    handle.write(json.dumps([r.device, r.attribute, r.value, r.quality, r.unit, r.ts_ns]) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            temp.rename(final)
            self.points += len(readings)

    def oldest(self) -> tuple[Path, list[Reading]] | None:
        segments = self.segments()
        if not segments:
            return None
        path = segments[0]
        readings = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                device, attribute, value, quality, unit, ts_ns = json.loads(line)
                readings.append(Reading(device, attribute, value, quality, unit, ts_ns))
        return path, readings

    def remove(self, path: Path, count: int) -> None:
        with self._lock:
            path.unlink(missing_ok=True)
            self.points = max(0, self.points - count)
