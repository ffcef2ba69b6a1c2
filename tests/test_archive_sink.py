"""The archive sink in-process, on the embedded archive: an outage spools, retries with backoff and
replays in order; a rejected batch is moved aside and does not block the queue."""

from __future__ import annotations

import pytest

from bridges.archive_sink import ArchiveSink
from bridges.stats import BridgeStats
from bridges.wal import WriteAheadLog, encode
from db.archive.base import ArchiveRejected, ArchiveUnavailable
from db.archive.embedded import EmbeddedArchive
from db.archive.reading import Reading

from testkit import wait_for

pytestmark = pytest.mark.unit  # in-process: no service, no child process

DEVICE = "demo/hv/module1"


class Outage:
    """The embedded archive behind a switch: down (unavailable), rejecting, or up."""

    def __init__(self, archive: EmbeddedArchive):
        self.archive, self.mode, self.calls = archive, "up", []

    def write(self, readings):
        self.calls.append((self.mode, [r.value for r in readings]))
        if self.mode == "down":
            raise ArchiveUnavailable("archive down (test)")
        if self.mode == "reject" and any(r.value == -1.0 for r in readings):
            raise ArchiveRejected("bad point (test)")
        self.archive.write(readings)

    def close(self):
        self.archive.close()


def batch(wal: WriteAheadLog, sink: ArchiveSink, values) -> None:
    readings = [Reading(DEVICE, "voltage", float(v), "VALID", "V", 1_700_000_000_000_000_000 + int(v * 1000))
                for v in values]
    wal.append([encode(r) for r in readings])
    sink.submit(wal.rotate(), readings)


@pytest.fixture
def parts(tmp_path):
    wal = WriteAheadLog(tmp_path / "spool")
    writer = Outage(EmbeddedArchive(tmp_path / "archive.sqlite", "demo"))
    stats = BridgeStats()
    sink = ArchiveSink(writer, wal, stats)
    sink.start()
    yield wal, writer, sink, stats
    sink.stop()


def archived(writer) -> list[float]:
    return [p.value for p in writer.archive.history(DEVICE, "voltage", 0, 2**62, 1000)]


def test_an_outage_spools_and_replays_every_batch_in_order(parts):
    wal, writer, sink, stats = parts
    writer.mode = "down"
    for start in (0, 3, 6):
        batch(wal, sink, range(start, start + 3))
    wait_for(lambda: not sink.available and len(writer.calls) >= 2, what="the outage noticed and retried")
    assert len(wal.segments()) == 3 and archived(writer) == []
    writer.mode = "up"
    wait_for(lambda: archived(writer) == [float(v) for v in range(9)], timeout_s=15, what="the spool replayed")
    assert sink.available and wal.segments() == [] and stats.archived == 9
    first_up = next(i for i, (mode, _) in enumerate(writer.calls) if mode == "up")
    assert [values[0] for _, values in writer.calls[first_up:]] == [0.0, 3.0, 6.0], "replayed oldest first"


def test_a_rejected_batch_is_moved_aside_and_the_next_goes_on(parts):
    wal, writer, sink, stats = parts
    writer.mode = "reject"
    batch(wal, sink, [-1.0])
    batch(wal, sink, [1.0, 2.0])
    wait_for(lambda: archived(writer) == [1.0, 2.0], what="the good batch archived")
    assert stats.archive_rejected == 1 and len(list((wal.folder / "rejected").iterdir())) == 1
