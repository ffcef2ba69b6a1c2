"""Run emulators in one process; cold-box instruments in one process share one thermal model.

    python -m devices.sim --serve MODEL@HOST:PORT/CONTROL_PORT [--serve ...] [--pty dht22@LINK/CONTROL_PORT]
    python -m devices.sim --serve sht85@127.0.0.1:15031/15032 --serve julabo@127.0.0.1:15033/15034

``--pty`` runs the DHT22 Arduino sketch on a pseudo-terminal and makes LINK a symlink to it.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from pathlib import Path

from devices.models import make_emulator, tcp_emulated
from devices.sim.coldbox import ColdBox
from devices.sim.environment import Dht22Control, Dht22Pty
from devices.sim.server import EmulatorServer

_SPEC = re.compile(r"^(?P<model>[a-z0-9]+)@(?P<host>[^:/]+):(?P<port>\d+)/(?P<control>\d+)$")
_PTY = re.compile(r"^dht22@(?P<link>/.+)/(?P<control>\d+)$")


def parse_spec(text: str) -> tuple[str, str, int, int]:
    match = _SPEC.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected MODEL@HOST:PORT/CONTROL_PORT, got {text!r}")
    if match["model"] not in tcp_emulated():
        raise argparse.ArgumentTypeError(f"no emulator for {match['model']!r} (known: {', '.join(tcp_emulated())})")
    return match["model"], match["host"], int(match["port"]), int(match["control"])


def parse_pty(text: str) -> tuple[str, int]:
    match = _PTY.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected dht22@/ABSOLUTE/LINK/CONTROL_PORT, got {text!r}")
    return match["link"], int(match["control"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devices.sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", type=parse_spec, action="append", default=[], metavar="MODEL@HOST:PORT/CONTROL")
    parser.add_argument("--pty", type=parse_pty, action="append", default=[], metavar="dht22@LINK/CONTROL")
    args = parser.parse_args(argv)
    if not args.serve and not args.pty:
        parser.error("nothing to emulate: give --serve and/or --pty")
    box = ColdBox()
    servers, sketches = [], []
    try:
        for link, control in args.pty:
            sketch = Dht22Pty(box, link=Path(link)).start()
            sketches.append(sketch)
            servers.append(EmulatorServer(Dht22Control(sketch), "127.0.0.1", 0, control, serve_instrument=False).start())
            print(f"dht22 sketch on {sketch.port} (link {link}), control port {control}", flush=True)
        for model, host, port, control in args.serve:
            server = EmulatorServer(make_emulator(model, box), host, port, control).start()
            servers.append(server)
            print(f"{model} emulator on {server.resource}, control port {control}", flush=True)
    except OSError as exc:
        print(f"cannot listen: {exc}", file=sys.stderr)
        for server in servers:
            server.stop()
        return 2
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    for server in servers:
        server.stop()
    for sketch in sketches:
        sketch.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
