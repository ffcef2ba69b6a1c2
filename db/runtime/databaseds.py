"""pytango's Tango database server (``tango.databaseds``), with Starter told of changes the way
the C++ DataBase tells it: from a thread, never inside the client's call.

    python -m db.runtime.databaseds --host 127.0.0.1 --port 10000 2

When a server's registration changes (``DbExportDevice``, ``DbPutServerInfo``, ...), the database
asks the host's Starter to ``UpdateServersInfo``. The C++ DataBase queues that for its
``UpdateStarter`` thread (TangoDatabase's ``update_starter.cpp``). pytango 10.3 calls it inside
the command, and a Starter that is not exported yet (Starter starts its servers from its own
``init_device``, before it is exported) makes that call raise ``AttributeError``, which pytango
does not catch. So the server's ``DbExportDevice`` fails, and the server exits at startup
without a word: "failed in 4 sec." in Starter's log. A Starter that is busy holds the database
for its whole client timeout instead.

Here the notification is queued. One thread sends it, and a failure is logged and dropped: a
Starter that was not up reads the database when it comes up anyway.
"""

from __future__ import annotations

import logging
import queue
import threading

from tango.databaseds import database
from tango.databaseds.db_access import sqlite3 as sqlite_access

log = logging.getLogger("trackerdcs.databaseds")


class StarterNotifier:
    """Calls ``send(db, [host])`` for each (db, host) handed to ``notify``, in order, from one
    thread; a host queued again while a call is under way is told once."""

    def __init__(self, send) -> None:
        self._send = send
        self._queue: queue.Queue[tuple[object, str]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="update-starter", daemon=True)
        self._thread.start()

    def notify(self, db, hostnames: list[str]) -> None:
        for name in hostnames:
            if name.strip():
                self._queue.put((db, name))

    def _run(self) -> None:
        while True:
            pending = [self._queue.get()]
            while not self._queue.empty():
                pending.append(self._queue.get_nowait())
            for db, host in dict.fromkeys(pending):  # each host once, in order
                try:
                    self._send(db, [host])
                except Exception as exc:  # noqa: BLE001 -- a Starter that is not up reads the database when it is
                    log.info("Starter of %s not told of a change (%s: %s)", host, type(exc).__name__, exc)


def install() -> StarterNotifier:
    """Replace the database's synchronous Starter call with the queued one."""
    notifier = StarterNotifier(sqlite_access.SqlDatabase._send_starter_cmd)
    sqlite_access.SqlDatabase._send_starter_cmd = lambda db, hostnames: notifier.notify(db, list(hostnames))
    return notifier


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install()
    database.main(argv)


if __name__ == "__main__":
    main()
