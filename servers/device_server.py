"""Entry point of every device-server process of a station.

    python -m servers.device_server PowerSupply demo-hv -ORBendPoint giop:tcp:127.0.0.1:PORT

One executable serves all device classes of the catalog; the Tango database
says which devices (and so which classes) this server/instance runs.
"""

from __future__ import annotations

import logging
import sys

from tango.server import run

from devices.catalog import DEVICE_CLASSES


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print("usage: python -m servers.device_server EXECUTABLE INSTANCE [tango options]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(tuple(DEVICE_CLASSES.values()), args=args)
    return 0


def _serve_as(executable: str) -> None:
    sys.exit(main([executable, *sys.argv[1:]]))


# Console scripts, one per server executable of our station files, so that Tango Starter (Astor)
# can run them as it runs any server: StartDsPath/<Executable> <instance>
def power_supply() -> None:
    _serve_as("PowerSupply")


def environment() -> None:
    _serve_as("Environment")


def safety() -> None:
    _serve_as("Safety")


def ph2acf() -> None:
    _serve_as("Ph2Acf")


def burnin() -> None:
    _serve_as("BurnIn")


if __name__ == "__main__":
    sys.exit(main())
