"""Archive sink: writes closed WAL segments to the archive, oldest first.

While the archive is unreachable the segments simply stay on disk (that is
the spool) and are retried with backoff; when it returns they are replayed
in order. A batch the archive rejects as malformed is moved aside to
``rejected/`` for inspection instead of blocking the queue forever.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from bridges.stats import BridgeStats
from bridges.wal import WriteAheadLog
from db.archive.base import ArchiveRejected, ArchiveUnavailable, ArchiveWriter
from db.archive.reading import Reading

log = logging.getLogger("trackerdcs.bridge.archive")

RETRY_MIN_S = 0.5
RETRY_MAX_S = 5.0
COMMIT_SAMPLES = 10_000
MEMORY_POINTS = 2_000_000  # beyond this, pending batches are re-read from disk instead of kept in memory


class ArchiveSink:
    def __init__(self, writer: ArchiveWriter, wal: WriteAheadLog, stats: BridgeStats):
        self.writer = writer
        self.wal = wal
        self.stats = stats
        self._batches: dict[Path, list[Reading]] = {}  # closed segments still in memory
        self._memory_points = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry_at = 0.0
        self._retry_s = RETRY_MIN_S
        self.available = True
        self.errors = 0  # unexpected failures of a write (counted in the bridge's pipeline errors)
        self._synced: set[Path] = set()

    def submit(self, path: Path, readings: list[Reading]) -> None:
        """A segment was closed by the pipeline (its readings are kept to avoid a re-read)."""
        with self._lock:
            if self._memory_points + len(readings) <= MEMORY_POINTS:
                self._batches[path] = readings
                self._memory_points += len(readings)
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="archive-sink", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.writer.close()

    def _run(self) -> None:
        while True:
            self._drain()
            if self._stop.is_set():
                return
            wait = 0.5 if self.available else max(0.05, self._retry_at - time.monotonic())
            self._wake.wait(wait)
            self._wake.clear()

    def _sync_waiting(self) -> None:
        """Segments that wait for the archive are fsynced once (a machine crash must not lose them)."""
        segments = set(self.wal.segments())
        for path in segments - self._synced:
            self.wal.sync(path)
        self._synced = segments

    def _drain(self) -> None:
        if not self.available:
            self._sync_waiting()
        for path in self.wal.segments():
            if not self.available and time.monotonic() < self._retry_at:
                return
            with self._lock:
                readings = self._batches.pop(path, None)
                if readings is not None:
                    self._memory_points -= len(readings)
            if readings is None:
                try:
                    readings = self.wal.read(path)
                except FileNotFoundError:
                    continue
            if not self._write(path, readings):
                self._sync_waiting()
                with self._lock:  # keep it for the retry
                    self._batches[path] = readings
                    self._memory_points += len(readings)
                return

    def _write(self, path: Path, readings: list[Reading]) -> bool:
        started = time.monotonic()
        try:
            self.writer.write(readings)
        except ArchiveRejected as exc:
            log.error("archive rejected %d points (kept in %s): %s", len(readings), path.parent / "rejected", exc)
            self.stats.archive_rejected += len(readings)
            aside = path.parent / "rejected"
            aside.mkdir(exist_ok=True)
            path.replace(aside / path.name)
            self.wal.forget(len(readings))
            return True
        except Exception as exc:  # ArchiveUnavailable; anything else is a bug, kept and retried like an outage
            if not isinstance(exc, ArchiveUnavailable):
                self.errors += 1
                if self.errors == 1:
                    log.error("archive write failed unexpectedly; keeping the batch and retrying", exc_info=exc)
            if self.available:
                log.warning("archive unavailable, keeping batches in %s: %s", self.wal.folder, exc)
            self.available = False
            self._retry_at = time.monotonic() + self._retry_s
            self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
            return False
        samples = self.stats.archive_commit_ms
        samples.append((time.monotonic() - started) * 1e3)
        if len(samples) > COMMIT_SAMPLES:
            del samples[: COMMIT_SAMPLES // 2]
        self.stats.archived += len(readings)
        if readings:
            self.stats.archive_lag_ms = max(0.0, time.time() * 1e3 - readings[-1].ts_ns / 1e6)
        self.wal.remove(path, len(readings))
        if not self.available:
            log.info("archive reachable again; replaying the spool")
        self.available = True
        self._retry_s = RETRY_MIN_S
        return True
