"""A station file that passed its checks is not read and checked again while neither it nor the
checking code changes (db/config/station_cache.py): the second load of a 100-module station costs
milliseconds, gives the same station, and any change to the file is checked in full again."""

from __future__ import annotations

import time

import pytest
import yaml

from db.config import station_cache
from db.config.generate import station
from db.config.validation import StationFileError, load_station

pytestmark = pytest.mark.unit


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKERDCS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACKERDCS_STATION_CACHE", "1")
    return tmp_path / "cache" / "stations"


def _write(tmp_path, raw) -> object:
    path = tmp_path / "scale.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_a_checked_station_is_loaded_again_from_the_cache_in_milliseconds(tmp_path, cache):
    path = _write(tmp_path, station(100))
    started = time.process_time()
    first = load_station(path)
    checked_s = time.process_time() - started
    assert len(list(cache.glob("*.json"))) == 1
    started = time.process_time()
    second = load_station(path)
    cached_s = time.process_time() - started
    assert second.station.model_dump() == first.station.model_dump()
    assert second.data_dir == first.data_dir and second.tango_host == first.tango_host
    print(f"\n100-module station: checked in {checked_s:.3f} s of CPU, from the cache in {cached_s:.3f} s")
    assert cached_s < checked_s


def test_a_changed_file_is_checked_in_full_and_a_bad_one_never_remembered(tmp_path, cache):
    raw = station(10)
    path = _write(tmp_path, raw)
    load_station(path)
    raw["modules"][0]["hv"] = "scale/hv/nowhere"  # an HV channel no server holds
    _write(tmp_path, raw)
    with pytest.raises(StationFileError) as info:
        load_station(path)
    assert "scale/hv/nowhere" in str(info.value)
    assert len(list(cache.glob("*.json"))) == 1, "the bad file was remembered"


def test_a_change_of_the_checking_code_is_a_new_entry(tmp_path, cache, monkeypatch):
    path = _write(tmp_path, station(10))
    text = path.read_text()
    before = station_cache.key(text)
    monkeypatch.setattr(station_cache, "_code_fingerprint", lambda: "validation.py:1:2")
    assert station_cache.key(text) != before
    assert station_cache.recall(text) is None


def test_turned_off_nothing_is_written(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("TRACKERDCS_STATION_CACHE", "0")
    load_station(_write(tmp_path, station(10)))
    assert not cache.exists()
