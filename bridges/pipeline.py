"""The bridge's hot path: one thread takes what the Tango callbacks enqueued,
writes archive-bound readings to the write-ahead log, publishes on MQTT
(it also runs the MQTT connection's network loop), and hands closed WAL
segments (one per batch) to the archive sink.

Order matters: a reading reaches the WAL before MQTT, so anything a
subscriber has seen is on disk and reaches the archive even across a
``kill -9`` of the bridge.
"""

from __future__ import annotations

import collections
import logging
import threading
import time

from bridges.archive_sink import ArchiveSink
from bridges.attribute_alarms import AttributeAlarms
from bridges.mqtt_client import MqttConnection
from bridges.mqtt_sink import MqttSink
from bridges.stats import BridgeStats
from bridges.wal import WriteAheadLog, encode
from db.archive.reading import Reading

log = logging.getLogger("trackerdcs.bridge.pipeline")

TO_ARCHIVE = 1
TO_MQTT = 2


class Pipeline:
    def __init__(self, wal: WriteAheadLog, archive: ArchiveSink, mqtt: MqttSink, connection: MqttConnection,
                 stats: BridgeStats,
                 batch_size: int = 5000, flush_interval_s: float = 0.2, max_queue: int = 1_000_000,
                 alarms: AttributeAlarms | None = None):
        self.wal = wal
        self.archive = archive
        self.mqtt = mqtt
        self.connection = connection
        self.stats = stats
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_queue = max_queue
        self.queue: collections.deque[tuple[Reading, int]] = collections.deque()
        self._batch: list[Reading] = []
        self._batch_started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.alarms = alarms  # attribute alarms, watched in every chunk
        self._logged: set[tuple] = set()

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
        idle_since = time.monotonic()
        while True:
            stopping = self._stop.is_set()
            try:
                if self.mqtt.republish_requested.is_set():
                    self.mqtt.republish_requested.clear()
                    self.mqtt.republish_all(self.connection)
                chunk = []
                while queue and len(chunk) < 20_000:
                    chunk.append(queue.popleft())
                if chunk:
                    self._forward(chunk)
                    idle_since = time.monotonic()
                batch = self._batch
                if batch and (len(batch) >= self.batch_size or stopping
                              or time.monotonic() - self._batch_started >= self.flush_interval_s):
                    self._close_batch()
                if stopping and not queue:
                    if self._batch:
                        self._close_batch()
                    return
                if chunk:
                    self.connection.service(0)
                else:
                    self.connection.service(0.0005 if time.monotonic() - idle_since < 1.0 else 0.005)
            except Exception as exc:  # a bug or a full disk: counted and logged, the loop goes on
                self._failed("pipeline step", exc)
                if stopping:
                    return
                time.sleep(0.1)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.stats.pipeline_errors += 1
        signature = (what, type(exc).__name__)
        if signature not in self._logged:
            self._logged.add(signature)
            log.error("%s failed (logged once; later ones are counted in pipeline_errors)", what, exc_info=exc)

    def _forward(self, chunk: list[tuple[Reading, int]]) -> None:
        batch = self._batch
        if not batch:
            self._batch_started = time.monotonic()
        archived = [reading for reading, route in chunk if route & TO_ARCHIVE]
        if archived:
            try:
                lines = [encode(reading) for reading in archived]
                self.wal.append(lines)  # on disk before anyone sees it on MQTT
            except Exception:
                # not on disk: nothing of the chunk goes anywhere yet; it is taken again next turn
                self.queue.extendleft(reversed(chunk))
                raise
            batch.extend(archived)
        if self.alarms is not None:
            try:
                self.alarms.watch(reading for reading, _ in chunk)
            except Exception as exc:
                self._failed("alarm record", exc)
        message = self.mqtt.message
        messages = []
        last = None
        for reading, route in chunk:
            if route & TO_MQTT:
                try:
                    messages.append(message(reading))
                    last = reading
                except Exception as exc:  # one reading that cannot be put into a message
                    self._failed("MQTT message of a reading", exc)
        if messages:
            self.connection.publish_retained(messages, self.mqtt.qos)
            self.stats.published += len(messages)
            self.stats.mqtt_lag_ms = max(0.0, time.time() * 1e3 - last.ts_ns / 1e6)

    def save_queued(self) -> None:
        """After the thread stopped: archive-bound readings still queued go to the write-ahead log,
        so that the next run archives them."""
        if self.alive():
            return
        chunk = list(self.queue)
        self.queue.clear()
        lines = [encode(reading) for reading, route in chunk if route & TO_ARCHIVE]
        if lines:
            self.wal.append(lines)
            self._batch.extend(reading for reading, route in chunk if route & TO_ARCHIVE)
        if self._batch:
            self._close_batch()

    def _close_batch(self) -> None:
        path = self.wal.rotate()
        readings, self._batch = self._batch, []
        if path is not None:
            self.archive.submit(path, readings)
