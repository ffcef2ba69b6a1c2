"""A container's healthcheck: exit 0 when the server's admin device answers, 1 (with the reason)
when it does not.

    python3 -m servers.healthcheck PowerSupply/demo-hv      (TANGO_HOST from the environment or the station)
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or "/" not in args[0]:
        print("usage: python3 -m servers.healthcheck EXECUTABLE/INSTANCE", file=sys.stderr)
        return 2
    if "TANGO_HOST" not in os.environ and os.environ.get("TRACKERDCS_STATION"):
        from db.config.validation import load_station

        os.environ["TANGO_HOST"] = load_station(os.environ["TRACKERDCS_STATION"]).tango_host
    import tango

    try:
        admin = tango.DeviceProxy(f"dserver/{args[0]}")
        admin.set_timeout_millis(3000)
        admin.ping()
    except tango.DevFailed as exc:
        print(f"{args[0]} does not answer: {exc.args[0].desc.strip().splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
