"""TCP front end of an emulated instrument plus its fault-injection port.

The instrument port speaks newline-terminated SCPI like a LAN instrument
(``TCPIP::host::port::SOCKET``). The control port takes one text command per
line and answers ``OK ...`` or ``ERR ...``:

    disconnect        drop every client and refuse new ones
    silent            keep connections but never answer
    garbage           answer every query with garbage
    slow SECONDS      delay every answer
    trip [CHANNEL]    make the instrument trip (compliance / fuse)
    set NAME VALUE..  change a physics parameter (load, temperature)
    restore           clear disconnect / silent / garbage / slow
    state             the instrument state as JSON
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import socketserver
import threading
import time
from dataclasses import dataclass

from devices.sim.scpi_model import ScpiModel

log = logging.getLogger(__name__)

MAX_DELAY_S = 3600.0


@dataclass
class Faults:
    disconnected: bool = False
    silent: bool = False
    garbage: bool = False
    delay_s: float = 0.0

    def describe(self) -> dict:
        return dict(self.__dict__)


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class EmulatorServer:
    """Serves one ScpiModel on an instrument port and a control port."""

    def __init__(self, model: ScpiModel, host: str = "127.0.0.1", port: int = 0, control_port: int = 0,
                 serve_instrument: bool = True):
        self.model = model
        self.faults = Faults()
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        # serve_instrument=False: the instrument talks elsewhere (a pseudo-terminal); only the control port is served
        self._instrument = _ThreadingServer((host, port), self._instrument_handler()) if serve_instrument else None
        self._control = _ThreadingServer((host, control_port), self._control_handler())
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        return self._instrument.server_address[:2]

    @property
    def control_address(self) -> tuple[str, int]:
        return self._control.server_address[:2]

    @property
    def resource(self) -> str:
        host, port = self.address
        return f"TCPIP::{host}::{port}::SOCKET"

    def _servers(self):
        return [server for server in (self._instrument, self._control) if server is not None]

    def start(self) -> EmulatorServer:
        for server in self._servers():
            # a short poll: stop() (shutdown) waits for the loop to notice, 0.5 s per server by default
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                                      name=f"emu-{server.server_address[1]}")
            thread.start()
            self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        self.start()
        for thread in self._threads:
            thread.join()

    def stop(self) -> None:
        for server in self._servers():
            server.shutdown()
            server.server_close()
        self.drop_clients()

    def drop_clients(self) -> None:
        with self._clients_lock:
            clients, self._clients = self._clients, set()
        for sock in clients:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- fault control
    def control(self, line: str) -> str:
        words = line.split()
        if not words:
            return "ERR empty command"
        verb, args = words[0].lower(), words[1:]
        try:
            if verb == "disconnect":
                self.faults.disconnected = True
                self.drop_clients()
            elif verb == "silent":
                self.faults.silent = True
            elif verb == "garbage":
                self.faults.garbage = True
            elif verb == "slow":
                delay = float(args[0]) if args else 1.0
                if not math.isfinite(delay) or delay < 0 or delay > MAX_DELAY_S:
                    return f"ERR slow: the delay must be a number of seconds in [0, {MAX_DELAY_S:g}], not {args[0]!r}"
                self.faults.delay_s = delay
            elif verb == "restore":
                self.faults = Faults()
            elif verb == "trip":
                self.model.force_trip(int(args[0]) if args else 1)
            elif verb == "set":
                if not args:
                    return "ERR set needs a parameter name"
                if any(_non_finite(value) for value in args[1:]):
                    return f"ERR set: the values must be finite numbers, not {' '.join(args[1:])!r}"
                self.model.set_parameter(args[0].lower(), args[1:])
            elif verb == "state":
                return "OK " + json.dumps({"faults": self.faults.describe(), **self.model.snapshot()})
            else:
                return f"ERR unknown command {verb!r}"
        except (ValueError, KeyError, IndexError) as exc:
            return f"ERR {verb}: {exc}"
        return "OK"

    def _instrument_handler(self):
        emulator = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                if emulator.faults.disconnected:
                    return
                with emulator._clients_lock:
                    emulator._clients.add(self.connection)
                terminator = getattr(emulator.model, "terminator", "\n").encode()
                buffer = b""
                try:
                    while True:
                        data = self.connection.recv(4096)
                        if not data:
                            return
                        buffer += data
                        *lines, buffer = re.split(rb"[\r\n]", buffer)
                        for raw in lines:
                            if emulator.faults.disconnected:
                                return
                            line = raw.decode("ascii", "replace").strip()
                            if not line:
                                continue
                            reply = emulator.model.execute(line)
                            if reply is None or emulator.faults.silent:
                                continue
                            if emulator.faults.delay_s:
                                time.sleep(emulator.faults.delay_s)
                            if emulator.faults.garbage:
                                reply = "#\x15?!garbage"
                            self.connection.sendall(reply.encode("ascii", "replace") + terminator)
                except (ConnectionError, OSError):
                    pass
                finally:
                    with emulator._clients_lock:
                        emulator._clients.discard(self.connection)

        return Handler

    def _control_handler(self):
        emulator = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    for raw in self.rfile:
                        reply = emulator.control(raw.decode("utf-8", "replace").strip())
                        self.wfile.write(reply.encode() + b"\n")
                except (ConnectionError, OSError):
                    pass

        return Handler


def _non_finite(text: str) -> bool:
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


class EmulatorControl:
    """Client of an emulator's control port, for tests and the CLI."""

    def __init__(self, host: str, port: int, timeout_s: float = 5.0):
        self.host, self.port, self.timeout_s = host, port, timeout_s

    def send(self, command: str) -> str:
        with socket.create_connection((self.host, self.port), timeout=self.timeout_s) as sock:
            sock.sendall(command.encode() + b"\n")
            reply = sock.makefile("rb").readline().decode().strip()
        if not reply.startswith("OK"):
            raise RuntimeError(f"emulator refused {command!r}: {reply}")
        return reply[2:].strip()

    def state(self) -> dict:
        return json.loads(self.send("state"))
