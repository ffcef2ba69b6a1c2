"""The bridge's write-ahead log in-process: torn last line, replay order, idempotent replay."""

from __future__ import annotations

import pytest

from bridges.wal import OPEN, WriteAheadLog, decode, encode
from db.archive.embedded import EmbeddedArchive
from db.archive.reading import Reading

pytestmark = pytest.mark.unit  # in-process: no service, no child process


def readings(start: int, count: int) -> list[Reading]:
    return [Reading("demo/hv/module1", "voltage", float(i), "VALID", "V", 1_700_000_000_000_000_000 + i)
            for i in range(start, start + count)]


def test_a_reading_survives_encoding_whatever_its_value():
    for value in (1.5, float("nan"), float("inf"), None, True, 3, "ON", [1.0, 2.0], "é\"\\"):
        reading = Reading("demo/hv/module1", "x", value, "VALID", "", 1)
        back = decode(encode(reading))
        assert back.ts_ns == 1 and (back.value == value or value != value)


def test_a_torn_last_line_is_dropped_and_the_rest_replayed(tmp_path):
    wal = WriteAheadLog(tmp_path)
    wal.append([encode(r) for r in readings(0, 3)])
    with open(tmp_path / OPEN, "ab") as segment:  # the bridge killed in the middle of a write
        segment.write(b'["demo/hv/module1", "voltage", 3.0, "VA')
    reopened = WriteAheadLog(tmp_path)  # the next run closes the open segment as it is
    [segment] = reopened.segments()
    assert [r.value for r in reopened.read(segment)] == [0.0, 1.0, 2.0]
    assert reopened.pending_points == 3 and not (tmp_path / OPEN).exists()


def test_segments_replay_oldest_first(tmp_path):
    wal = WriteAheadLog(tmp_path)
    for batch in range(3):
        wal.append([encode(r) for r in readings(batch * 10, 10)])
        wal.rotate()
    again = WriteAheadLog(tmp_path)
    values = [r.value for path in again.segments() for r in again.read(path)]
    assert values == [float(i) for i in range(30)]
    assert again.pending_points == 30


def test_replaying_a_segment_twice_archives_each_point_once(tmp_path):
    wal = WriteAheadLog(tmp_path / "spool")
    wal.append([encode(r) for r in readings(0, 5)])
    [segment] = [wal.rotate()]
    archive = EmbeddedArchive(tmp_path / "archive.sqlite", "demo")
    for _ in range(2):  # a crash after the write, before the segment was removed
        archive.write(wal.read(segment))
    points = archive.history("demo/hv/module1", "voltage", 0, 2**62, 100)
    archive.close()
    assert [p.value for p in points] == [0.0, 1.0, 2.0, 3.0, 4.0]
