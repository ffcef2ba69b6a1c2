"""The operator panel of a running station, opened offscreen as an operator opens it:

    .venv/bin/python -m bench.panel_open FILE

Prints one JSON line: seconds until the window is shown (imports included), then until every
module tile shows its LV and HV states (a large station) or every label a value, and until it
is closed. bench/scale.py runs it in a process of its own and samples its RSS.
"""

from __future__ import annotations

import json
import os
import sys
import time

STARTED = time.monotonic()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from taurus.external.qt import Qt  # noqa: E402  (after the platform is chosen)
from taurus.qt.qtgui.application import TaurusApplication  # noqa: E402

from db.config.validation import load_station  # noqa: E402
from gui.panel import StationPanel  # noqa: E402
from gui.tile_feed import NO_VALUE  # noqa: E402

TIMEOUT_S = 120.0


def shown(panel: StationPanel, station) -> bool:
    if panel.tile_feed is not None:
        return all(panel.tile_feed.text(device, "State") != NO_VALUE
                   for m in station.station.modules for device in (m.hv, *m.lv))
    return all(label.text() not in ("", "-----") for label in panel.labels.values())


def main(path: str) -> None:
    station = load_station(path)
    app = TaurusApplication.instance() or TaurusApplication([sys.argv[0]], cmd_line_parser=None)
    panel = StationPanel(station)
    panel.resize(1600, 1000)
    panel.show()
    app.processEvents()
    opened = time.monotonic()
    while time.monotonic() - opened < TIMEOUT_S and not shown(panel, station):
        app.processEvents(Qt.QEventLoop.AllEvents, 20)
        time.sleep(0.02)
    values = time.monotonic()
    complete = shown(panel, station)
    panel.close()
    closed = time.monotonic()
    print(json.dumps({"open_s": round(opened - STARTED, 1),
                      "every_value_s": round(values - STARTED, 1) if complete else None,
                      "close_s": round(closed - values, 1)}))


if __name__ == "__main__":
    main(sys.argv[1])
