"""``python -m bridges STATION_FILE``: run the event bridge of a station."""

import logging
import sys

from bridges.service import run_bridge
from db.config.validation import StationFileError, load_station


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bridges STATION_FILE", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        station = load_station(args[0])
    except StationFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    return run_bridge(station)


if __name__ == "__main__":
    sys.exit(main())
