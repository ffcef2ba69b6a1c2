"""Run one emulator: ``python -m devices.sim MODEL --port P --control-port C``."""

from __future__ import annotations

import argparse
import signal
import sys

from devices.sim.catalog import EMULATORS, make_model
from devices.sim.server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devices.sim", description=__doc__)
    parser.add_argument("model", choices=sorted(EMULATORS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        server = EmulatorServer(make_model(args.model), args.host, args.port, args.control_port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}/{args.control_port}: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{args.model} emulator on {server.resource}, control port {server.control_address[1]}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
