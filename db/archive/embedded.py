"""The embedded archive: sqlite in WAL mode, one row per (device, attribute, timestamp).

Replaying a point replaces the same row, so spool replays are idempotent.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from db.archive.base import ArchiveUnavailable, HistoryPoint
from db.archive.reading import Reading

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    device TEXT NOT NULL,
    attribute TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    family TEXT NOT NULL,
    unit TEXT NOT NULL,
    value_num REAL,
    value_text TEXT,
    quality TEXT NOT NULL,
    PRIMARY KEY (device, attribute, ts_ns)
) WITHOUT ROWID;
"""


def _columns(reading: Reading, station: str) -> tuple:
    value = reading.value
    if isinstance(value, bool):
        num, text = float(value), None
    elif isinstance(value, (int, float)):
        num, text = float(value), None
    elif value is None:
        num, text = None, None
    else:
        num, text = None, str(value)
    return (reading.device, reading.attribute, reading.ts_ns, reading.family, reading.unit, num, text, reading.quality)


class EmbeddedArchive:
    def __init__(self, path: Path, station: str = ""):
        self.path = Path(path)
        self.station = station
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def write(self, readings: list[Reading]) -> None:
        rows = [_columns(r, self.station) for r in readings]
        try:
            with self._lock, self._db:
                self._db.executemany("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.OperationalError as exc:  # disk full, locked for too long
            raise ArchiveUnavailable(f"embedded archive {self.path}: {exc}") from exc

    def history(self, device: str, attribute: str, since_ns: int, until_ns: int, limit: int = 100_000) -> list[HistoryPoint]:
        with self._lock:
            rows = self._db.execute(
                "SELECT ts_ns, value_num, value_text, quality FROM points WHERE device = ? AND attribute = ? "
                "AND ts_ns >= ? AND ts_ns <= ? ORDER BY ts_ns LIMIT ?",
                (device.lower(), attribute, since_ns, until_ns, limit),
            ).fetchall()
        return [HistoryPoint(ts, text if text is not None else num, quality) for ts, num, text, quality in rows]

    def count(self, device: str | None = None) -> int:
        with self._lock:
            if device is None:
                return self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM points WHERE device = ?", (device,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
