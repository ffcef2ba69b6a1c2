"""The bridge container's healthcheck: healthy while the bridge writes its health file every
second (a file older than 10 s, or none, is unhealthy).

    python3 -m bridges.healthcheck STATION_FILE
"""

from __future__ import annotations

import sys
import time

from db.config.validation import load_station

STALE_S = 10.0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python3 -m bridges.healthcheck STATION_FILE", file=sys.stderr)
        return 2
    health = load_station(args[0]).data_dir / "run" / "bridge-health.json"
    try:
        age = time.time() - health.stat().st_mtime
    except FileNotFoundError:
        print(f"the bridge has not written {health}", file=sys.stderr)
        return 1
    if age > STALE_S:
        print(f"{health} is {age:.0f} s old: the bridge is stuck", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
