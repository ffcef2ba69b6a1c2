"""The run store: calibration and IV runs in MongoDB, through pymongo (no Tango).

Collections (research ph2acf.md §5.c): ``runs`` (one per execution, with its
archive query window), ``module_results`` (one per module per run: per-chip
summaries), ``chip_data`` (one per chip per run: channel arrays by index),
``dcs_snapshots`` (the conditions at the start and end of a run) and
``iv_scans``. Times are UTC datetimes; every document has ``schema_version``.
The embedded default is secantusdb on loopback; a lab gives any MongoDB URI,
with the password in a file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote_plus, urlsplit, urlunsplit

import pymongo
from pymongo.errors import PyMongoError

SCHEMA_VERSION = 1


class RunStoreError(RuntimeError):
    pass


def utc(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def with_password(uri: str, password_file: str | None) -> str:
    """The URI with the password read from a file (user in the URI, secret outside the station file)."""
    if not password_file:
        return uri
    password = Path(password_file).read_text().strip()
    parts = urlsplit(uri)
    user = parts.username
    if not user:
        raise RunStoreError(f"the run store URI {uri!r} names no user for the password in {password_file}")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, f"{quote_plus(user)}:{quote_plus(password)}@{host}", parts.path,
                       parts.query, parts.fragment))


class RunStore:
    def __init__(self, uri: str, database: str = "dcs", password_file: str | None = None,
                 timeout_s: float = 3.0):
        self.uri = uri
        self.client = pymongo.MongoClient(with_password(uri, password_file), tz_aware=True,
                                          serverSelectionTimeoutMS=int(timeout_s * 1000),
                                          connectTimeoutMS=int(timeout_s * 1000))
        self.db = self.client[database]
        self._indexed = False

    def close(self) -> None:
        self.client.close()

    def check(self) -> None:
        """Raise RunStoreError when the store does not answer; create the indexes once."""
        try:
            self.client.admin.command("ping")
            if not self._indexed:
                self._create_indexes()
                self._indexed = True
        except PyMongoError as exc:
            raise RunStoreError(f"the run store {urlsplit(self.uri).hostname}:{urlsplit(self.uri).port} "
                                f"does not answer ({exc.__class__.__name__})") from None

    def _create_indexes(self) -> None:
        self.db.runs.create_index([("device", 1), ("run_number", 1)], unique=True)
        self.db.runs.create_index([("t_start", -1)])
        self.db.runs.create_index([("modules", 1), ("t_start", -1)])
        self.db.module_results.create_index([("module", 1), ("t_start", -1)])
        self.db.module_results.create_index([("run_id", 1)])
        self.db.chip_data.create_index([("module", 1), ("hybrid", 1), ("chip", 1), ("run_id", 1)])
        self.db.dcs_snapshots.create_index([("run_id", 1), ("phase", 1)])
        self.db.iv_scans.create_index([("module", 1), ("t_start", -1)])

    # ------------------------------------------------------------------ writes
    def new_run(self, document: dict) -> object:
        self.check()
        return self.db.runs.insert_one({"schema_version": SCHEMA_VERSION, **document}).inserted_id

    def update_run(self, run_id, **fields) -> None:
        self.db.runs.update_one({"_id": run_id}, {"$set": fields})

    def add_snapshot(self, run_id, phase: str, taken: float, values: dict, interlock: dict) -> object:
        doc = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "phase": phase, "t": utc(taken),
               "values": values, "interlock": interlock}
        return self.db.dcs_snapshots.insert_one(doc).inserted_id

    def add_results(self, run_id, module_results: list[dict], chip_data: list[dict]) -> None:
        if chip_data:
            ids = self.db.chip_data.insert_many(
                [{"schema_version": SCHEMA_VERSION, "run_id": run_id, **c} for c in chip_data]).inserted_ids
            for result in module_results:
                result["chip_data_ids"] = [i for i, c in zip(ids, chip_data, strict=True)
                                           if c["module"] == result["module"]]
        if module_results:
            self.db.module_results.insert_many(
                [{"schema_version": SCHEMA_VERSION, "run_id": run_id, **m} for m in module_results])

    def add_iv_scan(self, run_id, document: dict) -> object:
        return self.db.iv_scans.insert_one({"schema_version": SCHEMA_VERSION, "run_id": run_id,
                                            **document}).inserted_id

    def next_run_number(self, device: str) -> int:
        """One more than the highest run number the device has recorded."""
        try:
            last = self.db.runs.find_one({"device": device}, sort=[("run_number", -1)])
        except PyMongoError as exc:
            raise RunStoreError(f"the run store cannot say the last run of {device} ({exc.__class__.__name__})") \
                from None
        return (last["run_number"] if last else 0) + 1

    # ------------------------------------------------------------------- reads
    def runs(self, limit: int = 50, module: str | None = None) -> list[dict]:
        self.check()
        query = {"modules": module} if module else {}
        return list(self.db.runs.find(query).sort("t_start", -1).limit(limit))

    def run(self, number: int, device: str | None = None) -> dict | None:
        self.check()
        query = {"run_number": number, **({"device": device} if device else {})}
        found = list(self.db.runs.find(query).sort("t_start", -1).limit(2))
        if len(found) > 1 and device is None:
            devices = ", ".join(sorted({r["device"] for r in self.db.runs.find({"run_number": number})}))
            raise RunStoreError(f"run {number} exists on several devices ({devices}); name one with --device")
        return found[0] if found else None

    def snapshots(self, run_id) -> list[dict]:
        return list(self.db.dcs_snapshots.find({"run_id": run_id}).sort("t", 1))

    def module_results(self, run_id=None, module: str | None = None) -> list[dict]:
        query = {**({"run_id": run_id} if run_id is not None else {}), **({"module": module} if module else {})}
        return list(self.db.module_results.find(query).sort("t_start", 1))

    def chip_data(self, run_id, module: str | None = None) -> list[dict]:
        query = {"run_id": run_id, **({"module": module} if module else {})}
        return list(self.db.chip_data.find(query).sort([("hybrid", 1), ("chip", 1)]))

    def iv_scan(self, run_id) -> dict | None:
        return self.db.iv_scans.find_one({"run_id": run_id})
