"""Run emulators in one process; cold-box instruments in one process share one thermal model.

    python -m devices.sim --serve MODEL@HOST:PORT/CONTROL_PORT [--serve ...]
    python -m devices.sim --serve sht85@127.0.0.1:15031/15032 --serve julabo@127.0.0.1:15033/15034
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading

from devices.sim.catalog import EMULATORS, make_model
from devices.sim.coldbox import ColdBox
from devices.sim.server import EmulatorServer

_SPEC = re.compile(r"^(?P<model>[a-z0-9]+)@(?P<host>[^:/]+):(?P<port>\d+)/(?P<control>\d+)$")


def parse_spec(text: str) -> tuple[str, str, int, int]:
    match = _SPEC.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected MODEL@HOST:PORT/CONTROL_PORT, got {text!r}")
    if match["model"] not in EMULATORS:
        raise argparse.ArgumentTypeError(f"no emulator for {match['model']!r} (known: {', '.join(EMULATORS)})")
    return match["model"], match["host"], int(match["port"]), int(match["control"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devices.sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", type=parse_spec, action="append", required=True, metavar="MODEL@HOST:PORT/CONTROL")
    args = parser.parse_args(argv)
    box = ColdBox()
    servers = []
    try:
        for model, host, port, control in args.serve:
            server = EmulatorServer(make_model(model, box), host, port, control).start()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
