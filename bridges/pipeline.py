"""The bridge's hot path: one thread takes what the Tango callbacks enqueued and hands it,
chunk by chunk, to its sinks in order (bridges/sink.py): the write-ahead log first (durable),
then attribute alarms and MQTT. The MQTT sink also runs the connection's network loop on this
thread, and the write-ahead log's closed segments go to the archive sink's own thread.

Order matters: a reading reaches the WAL before MQTT, so anything a subscriber has seen is on
disk and reaches the archive even across a ``kill -9`` of the bridge. No sink failure stops
the thread: a durable sink that fails gets the chunk again next turn; any other failure is
counted in ``pipeline_errors``.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Sequence

from bridges.sink import TO_ARCHIVE, TO_MQTT, Sink
from bridges.stats import BridgeStats
from db.archive.reading import Reading

__all__ = ["TO_ARCHIVE", "TO_MQTT", "Pipeline"]

CHUNK = 20_000


class Pipeline:
    def __init__(self, sinks: Sequence[Sink], stats: BridgeStats, max_queue: int = 1_000_000):
        self.sinks = list(sinks)
        self.stats = stats
        self.max_queue = max_queue
        self.queue: collections.deque[tuple[Reading, int]] = collections.deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # Tango event thread: enqueue only
    def offer(self, reading: Reading, route: int) -> None:
        if len(self.queue) >= self.max_queue:
            self.stats.dropped += 1
            return
        self.queue.append((reading, route))

    @property
    def depth(self) -> int:
        return len(self.queue)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        queue = self.queue
        while True:
            stopping = self._stop.is_set()
            chunk = []
            while queue and len(chunk) < CHUNK:
                chunk.append(queue.popleft())
            if chunk and not self._hand_over(chunk):
                time.sleep(0.1)  # a durable sink failed (a full disk?): the chunk waits in the queue
            for sink in self.sinks:
                try:
                    sink.tick(stopping and not queue, bool(chunk))
                except Exception as exc:  # a bug: counted and logged, the loop goes on
                    self.stats.failure(f"{sink.name} tick", exc)
            if stopping and not queue:
                return

    def _hand_over(self, chunk: list[tuple[Reading, int]]) -> bool:
        """Every sink gets the chunk; False when a durable one could not take it (it is queued again)."""
        for sink in self.sinks:
            try:
                sink.take(chunk)
            except Exception as exc:
                self.stats.failure(sink.name, exc)
                if sink.durable:
                    self.queue.extendleft(reversed(chunk))
                    return False
        return True

    def save_queued(self) -> None:
        """After the thread stopped: what is still queued goes to the durable sinks (the write-ahead
        log), so that the next run archives it."""
        if self.alive():
            return
        chunk = list(self.queue)
        self.queue.clear()
        for sink in self.sinks:
            if sink.durable:
                sink.take(chunk)
                sink.tick(True, bool(chunk))
