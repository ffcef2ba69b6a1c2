"""Open the archive a station file configures, for writing (bridge) or reading (history, GUI)."""

from __future__ import annotations

from db.archive.base import ArchiveReader, ArchiveWriter
from db.archive.embedded import EmbeddedArchive
from db.archive.influx import InfluxDB1Writer, InfluxDB2Writer, InfluxQLReader
from db.config.station import LoadedStation


class SecretError(ValueError):
    pass


def read_secret(station: LoadedStation, path: str | None, what: str) -> str | None:
    if path is None:
        return None
    resolved = station.resolve(path)
    try:
        return resolved.read_text().strip()
    except OSError as exc:
        raise SecretError(f"cannot read the {what} file {resolved}: {exc.strerror}") from None


def embedded_path(station: LoadedStation):
    return station.data_dir / "archive.sqlite"


def open_writer(station: LoadedStation) -> ArchiveWriter:
    config = station.station.bridge.archive
    if config.backend == "embedded":
        return EmbeddedArchive(embedded_path(station), station.name)
    secret = read_secret(station, config.token_file, "archive token")
    if config.backend == "influxdb1":
        return InfluxDB1Writer(config.url, config.database, station.name, secret, config.timeout)
    return InfluxDB2Writer(config.url, config.org, config.bucket, secret or "", station.name, config.timeout)


def open_reader(station: LoadedStation) -> ArchiveReader:
    config = station.station.bridge.archive
    if config.backend == "embedded":
        return EmbeddedArchive(embedded_path(station), station.name)
    secret = read_secret(station, config.token_file, "archive token")
    if config.backend == "influxdb1":
        return InfluxQLReader(config.url, config.database, credentials=secret)
    return InfluxQLReader(config.url, config.database, token=secret)
