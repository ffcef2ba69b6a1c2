"""Run the station panel: ``trackerdcs gui FILE [--screenshot out.png]``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from db.config.station import LoadedStation


def run_gui(station: LoadedStation, screenshot: str | None = None, settle_s: float = 3.0, tab: int = 0) -> int:
    """Show the panel; with ``screenshot``, render it offscreen after ``settle_s`` and save a PNG instead."""
    if screenshot and not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from taurus.external.qt import Qt
    from taurus.qt.qtgui.application import TaurusApplication

    from gui.panel import StationPanel

    app = TaurusApplication.instance() or TaurusApplication([sys.argv[0]], cmd_line_parser=None,
                                                            app_name="trackerdcs", org_name="tracker-dcs")
    panel = StationPanel(station)
    panel.resize(1200, 800)
    panel.tabs.setCurrentIndex(tab)
    panel.show()
    if screenshot:
        result = {"ok": False}

        def save():
            image = panel.grab()
            result["ok"] = image.save(str(Path(screenshot)), "PNG")
            app.quit()

        Qt.QTimer.singleShot(int(settle_s * 1000), save)
        app.exec_()
        return 0 if result["ok"] else 1
    return app.exec_()
