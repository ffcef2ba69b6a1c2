"""The durable sink: archive-bound readings into the write-ahead log, one segment per batch
(closed by size or age), each closed segment handed to the archive sink. First in the
pipeline: what MQTT subscribers see is on disk already."""

from __future__ import annotations

import time

from bridges.archive_sink import ArchiveSink
from bridges.sink import TO_ARCHIVE, Chunk
from bridges.wal import WriteAheadLog, encode
from db.archive.reading import Reading


class WalSink:
    name = "write-ahead log"
    durable = True

    def __init__(self, wal: WriteAheadLog, archive: ArchiveSink, batch_size: int = 5000, flush_interval_s: float = 0.2):
        self.wal = wal
        self.archive = archive
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._batch: list[Reading] = []
        self._batch_started = 0.0

    def take(self, chunk: Chunk) -> None:
        archived = [reading for reading, route in chunk if route & TO_ARCHIVE]
        if not archived:
            return
        self.wal.append([encode(reading) for reading in archived])  # raises: the chunk is taken again
        if not self._batch:
            self._batch_started = time.monotonic()
        self._batch.extend(archived)

    def tick(self, stopping: bool, busy: bool) -> None:
        if self._batch and (stopping or len(self._batch) >= self.batch_size
                            or time.monotonic() - self._batch_started >= self.flush_interval_s):
            self.close_batch()

    def close_batch(self) -> None:
        path = self.wal.rotate()
        readings, self._batch = self._batch, []
        if path is not None:
            self.archive.submit(path, readings)
