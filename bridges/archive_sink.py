"""Archive sink: batches Readings by size and age into the archive; spools
to disk while the archive is unreachable and replays in order when it returns."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from bridges.spool import Spool
from bridges.stats import BridgeStats
from db.archive.base import ArchiveRejected, ArchiveUnavailable, ArchiveWriter
from db.archive.reading import Reading

log = logging.getLogger("trackerdcs.bridge.archive")

RETRY_MIN_S = 0.5
RETRY_MAX_S = 5.0
COMMIT_SAMPLES = 10_000


class ArchiveSink:
    name = "archive"

    def __init__(self, writer: ArchiveWriter, spool: Spool, stats: BridgeStats, batch_size: int = 5000,
                 flush_interval_s: float = 0.2, max_queue: int = 1_000_000,
                 clock: Callable[[], float] = time.monotonic):
        self.writer = writer
        self.spool = spool
        self.stats = stats
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_queue = max_queue
        self.clock = clock
        self.queue: collections.deque[Reading] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry_at = 0.0
        self._retry_s = RETRY_MIN_S
        self.available = True

    # called from the Tango event thread: enqueue only
    def offer(self, reading: Reading) -> None:
        if len(self.queue) >= self.max_queue:
            self.stats.dropped += 1
            return
        self.queue.append(reading)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="archive-sink", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.writer.close()

    @property
    def depth(self) -> int:
        return len(self.queue)

    def _take(self) -> list[Reading]:
        batch = []
        queue = self.queue
        try:
            for _ in range(self.batch_size):
                batch.append(queue.popleft())
        except IndexError:
            pass
        return batch

    def _run(self) -> None:
        last_flush = self.clock()
        while True:
            stopping = self._stop.is_set()
            full = len(self.queue) >= self.batch_size
            due = self.clock() - last_flush >= self.flush_interval_s
            if full or due or stopping:
                batch = self._take()
                last_flush = self.clock()
                if batch:
                    self._handle(batch)
                self._replay()
                if stopping and not self.queue:
                    return
            else:
                self._wake.wait(min(0.02, self.flush_interval_s))

    def _handle(self, batch: list[Reading]) -> None:
        if self.spool or not self.available:
            self.spool.append(batch)  # keep the order: nothing overtakes the spool
            return
        if not self._write(batch):
            self.spool.append(batch)

    def _write(self, batch: list[Reading]) -> bool:
        started = self.clock()
        try:
            self.writer.write(batch)
        except ArchiveRejected as exc:
            log.error("archive rejected %d points: %s", len(batch), exc)
            self.stats.archive_rejected += len(batch)
            return True
        except ArchiveUnavailable as exc:
            if self.available:
                log.warning("archive unavailable, spooling to %s: %s", self.spool.folder, exc)
            self.available = False
            self._retry_at = self.clock() + self._retry_s
            self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
            return False
        elapsed = self.clock() - started
        samples = self.stats.archive_commit_ms
        samples.append(elapsed * 1e3)
        if len(samples) > COMMIT_SAMPLES:
            del samples[: COMMIT_SAMPLES // 2]
        self.stats.archived += len(batch)
        self.stats.archive_lag_ms = max(0.0, time.time() * 1e3 - batch[-1].ts_ns / 1e6)
        if not self.available:
            log.info("archive reachable again")
        self.available = True
        self._retry_s = RETRY_MIN_S
        return True

    def _replay(self) -> None:
        while self.spool and (self.available or self.clock() >= self._retry_at):
            oldest = self.spool.oldest()
            if oldest is None:
                return
            path, readings = oldest
            if not self._write(readings):
                return
            self.spool.remove(path, len(readings))
            if not self.spool:
                log.info("spool replayed; archive up to date")
            if self._stop.is_set() is False and len(self.queue) >= self.batch_size:
                return  # let fresh data in; the rest of the spool follows
