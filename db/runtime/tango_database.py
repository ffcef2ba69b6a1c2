"""The embedded Tango database: pytango's databaseds on an sqlite file (run by db.runtime.databaseds).

Runs as its own process (attached to ``trackerdcs up`` or detached with a
pid file by ``trackerdcs db start``); data lives in the station's data dir.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tango

from db.config.station import LoadedStation
from db.runtime import process

INSTANCE = "2"


class DatabaseError(RuntimeError):
    pass


@dataclass
class EmbeddedDatabase:
    host: str
    port: int
    data_dir: Path

    @classmethod
    def of(cls, station: LoadedStation) -> EmbeddedDatabase:
        embedded = station.station.tango.database.embedded
        if embedded is None:
            raise DatabaseError(f"station {station.name!r} uses the external database {station.tango_host}")
        return cls(embedded.host, embedded.port, station.data_dir)

    @property
    def tango_host(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "tango_database.db"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "run" / "database.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "log" / "database.log"

    def running_pid(self) -> int | None:
        pid = process.read_pid(self.pid_file)
        return pid if pid is not None and process.pid_alive(pid) else None

    def answering(self) -> bool:
        return answering(self.tango_host)

    def start(self, detached: bool = False, timeout_s: float = 20.0) -> subprocess.Popen:
        process.check_port_free(self.host, self.port, "Tango database")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = process.tango_env(self.tango_host)
        env["PYTANGO_DATABASE_NAME"] = str(self.db_file)
        args = [sys.executable, "-m", "db.runtime.databaseds", "--host", self.host, "--port", str(self.port), INSTANCE]
        child = process.spawn(args, env, self.log_file, new_session=detached)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{child.pid}\n")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if child.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise DatabaseError(f"the Tango database exited with code {child.returncode}; see {self.log_file}")
            if self.answering():
                return child
            time.sleep(0.1)
        process.stop_pid(child.pid)
        raise DatabaseError(f"the Tango database did not answer on {self.tango_host} within {timeout_s:.0f} s; see {self.log_file}")

    def stop(self) -> bool:
        pid = self.running_pid()
        self.pid_file.unlink(missing_ok=True)
        return True if pid is None else process.stop_pid(pid)


def answering(tango_host: str, timeout_ms: int = 1000) -> bool:
    host, _, port = tango_host.partition(":")
    if not process.port_open(host, int(port)):
        return False
    try:
        db = tango.Database(host, int(port))
        db.set_timeout_millis(timeout_ms)
        db.get_info()
        return True
    except tango.DevFailed:
        return False


def connect(tango_host: str) -> tango.Database:
    host, _, port = tango_host.partition(":")
    try:
        return tango.Database(host, int(port))
    except tango.DevFailed as exc:
        raise DatabaseError(f"cannot reach the Tango database at {tango_host}: {exc.args[0].desc}") from None
