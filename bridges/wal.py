"""Write-ahead log of the bridge: every Reading bound for the archive is on
disk before it is published anywhere.

The pipeline appends JSON lines to the open segment with plain ``write``
calls: the data is in the kernel's page cache the moment ``write`` returns,
so it survives a ``kill -9`` of the bridge. A closed segment is one archive
batch; it is deleted once the archive took it, usually milliseconds later.
A segment that has to wait because the archive is down is fsynced by the
archive sink's thread (``sync``), never on the pipeline's hot path: a
machine crash can only lose what the archive was about to take anyway.
Segments left by a previous run are replayed oldest first; replays are
idempotent in every archive (same device, attribute and timestamp).
"""

from __future__ import annotations

import functools
import json
import math
import os
import threading
from pathlib import Path

from db.archive.reading import Reading

OPEN = "open.jsonl.part"


@functools.lru_cache(maxsize=8192)
def _prefix(device: str, attribute: str) -> str:
    return "[" + json.dumps(device) + ", " + json.dumps(attribute) + ", "


@functools.lru_cache(maxsize=1024)
def _text(text: str) -> str:
    return json.dumps(text)


def encode(reading: Reading) -> str:
    """One JSON line per reading; formatted by hand on the hot path (json.dumps costs ~3x more)."""
    value = reading.value
    if type(value) is float and math.isfinite(value):
        text = repr(value)
    else:
        text = json.dumps(value, allow_nan=True)
    return f"{_prefix(reading.device, reading.attribute)}{text}, {_text(reading.quality)}, {_text(reading.unit)}, {reading.ts_ns}]\n"


def decode(line: str) -> Reading:
    device, attribute, value, quality, unit, ts_ns = json.loads(line)
    return Reading(device, attribute, value, quality, unit, ts_ns)


class WriteAheadLog:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        segments = self.segments()
        self._next = int(segments[-1].stem) + 1 if segments else 1
        self.pending_points = sum(self._count(p) for p in segments)
        self._fd: int | None = None
        self._open_points = 0
        leftover = self.folder / OPEN
        if leftover.exists():  # the previous run died with a segment open: close it as it is
            self._open_points = self._count(leftover)
            self._fd = os.open(leftover, os.O_WRONLY | os.O_APPEND)
            self.rotate()

    @staticmethod
    def _count(path: Path) -> int:
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.endswith(b"\n"))

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob("[0-9]*.jsonl"))

    def append(self, lines: list[str]) -> None:
        if not lines:
            return
        if self._fd is None:
            self._fd = os.open(self.folder / OPEN, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        data = "".join(lines).encode()
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._open_points += len(lines)

    def rotate(self, sync: bool = False) -> Path | None:
        """Close the open segment; return its final path (None when nothing was open)."""
        if self._fd is None:
            return None
        if sync:
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        with self._lock:
            number, self._next = self._next, self._next + 1
            final = self.folder / f"{number:012d}.jsonl"
            os.replace(self.folder / OPEN, final)
            self.pending_points += self._open_points
        self._open_points = 0
        return final

    @staticmethod
    def sync(path: Path) -> None:
        """Flush a closed segment to the disk (it stays while the archive is down)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @property
    def open_points(self) -> int:
        return self._open_points

    def read(self, path: Path) -> list[Reading]:
        readings = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.endswith("\n"):
                    readings.append(decode(line))
        return readings

    def remove(self, path: Path, count: int) -> None:
        with self._lock:
            path.unlink(missing_ok=True)
            self.pending_points = max(0, self.pending_points - count)

    def forget(self, count: int) -> None:
        with self._lock:
            self.pending_points = max(0, self.pending_points - count)

    def close(self) -> None:
        self.rotate(sync=True)
