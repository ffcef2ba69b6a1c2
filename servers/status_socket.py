"""The launcher's status socket: ``trackerdcs status`` asks the running launcher, which holds a
proxy to every device since start-up, instead of making one per device itself (at 100 modules,
321 database imports and connections: most of the command's time).

A Unix socket in the station's run folder, mode 0600: only the station's user reaches it. One
request per connection, one line: ``status``. The answer is one JSON line, every device's
state, status and key values read over Tango when asked (servers/device_status.py). Any other
request gets ``{"error": ...}``; nothing a client sends is run or evaluated.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from db.config.station import LoadedStation

log = logging.getLogger("trackerdcs.launcher")

REQUEST = b"status"
MAX_REQUEST = 64  # bytes: a request is one short word
CLIENT_TIMEOUT_S = 5.0  # a connection that sends nothing is dropped after this


def socket_path(station: LoadedStation) -> Path:
    return station.data_dir / "run" / "status.sock"


class StatusSocket:
    def __init__(self, path: Path, answer: Callable[[], list[dict]]):
        self.path = path
        self.answer = answer
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Listen; False (logged) when the socket cannot be made, e.g. a path over the 107 bytes
        Linux allows: the CLI then asks every device itself, as without a launcher."""
        self.path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
            os.chmod(self.path, 0o600)
            sock.listen(8)
        except OSError as exc:
            sock.close()
            log.warning("no status socket at %s (%s): 'trackerdcs status' asks every device itself", self.path, exc)
            return False
        sock.settimeout(0.5)  # how soon close() is seen
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="status-socket", daemon=True)
        self._thread.start()
        return True

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    self._answer(conn)
                except Exception:  # one bad client never ends the service
                    log.exception("answering a status request failed")

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(CLIENT_TIMEOUT_S)
        request = b""
        while b"\n" not in request and len(request) <= MAX_REQUEST:
            data = conn.recv(MAX_REQUEST)
            if not data:
                break
            request += data
        word = request.split(b"\n", 1)[0].strip()
        if word == REQUEST:
            reply = {"devices": self.answer()}
        else:
            reply = {"error": f"unknown request {word[:MAX_REQUEST].decode(errors='replace')!r}: the only one is 'status'"}
        conn.sendall(json.dumps(reply).encode() + b"\n")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self.path.unlink(missing_ok=True)


def ask(path: Path, timeout_s: float = 15.0) -> list[dict] | None:
    """The launcher's answer, or None when there is none to have (no socket, no answer in time,
    an answer that is not one)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(path))
            sock.sendall(REQUEST + b"\n")
            chunks = []
            while data := sock.recv(1 << 16):
                chunks.append(data)
        devices = json.loads(b"".join(chunks))["devices"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(devices, list) or not all(isinstance(device, dict) for device in devices):
        return None
    return devices
