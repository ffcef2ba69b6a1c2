"""One event buffer for all the panel's Taurus widgets: at most one repaint per widget per period.

Taurus buffers a widget's events with ``setEventBufferPeriod``, which starts a Python timer thread
per widget (taurus.core.util.timer.Timer). A 100-module overview has 500 labels: 500 threads
waking at 10 Hz, more than the GUI thread can serve ("loop function took more than loop
interval" by the million). Here the widgets keep Taurus's own buffering (``fireEvent`` stores the
newest event per source while ``_eventBufferPeriod`` is set) and a single Qt timer in the GUI
thread fires what each has buffered. Taurus 5.4's ``TaurusBaseComponent`` keeps the buffer in
``_bufferedEvents`` under ``_eventsBufferLock``; tests/test_gui.py checks that labels still update
and that no timer thread is started per widget, so a Taurus upgrade that moves them fails there.
"""

from __future__ import annotations

import threading

from taurus.external.qt import Qt


class SharedEventBuffer(Qt.QObject):
    def __init__(self, period_s: float, parent: Qt.QObject | None = None):
        super().__init__(parent)
        self.period_s = period_s
        self._widgets: list = []
        self._timer = Qt.QTimer(self)
        self._timer.timeout.connect(self.flush)
        self._timer.start(int(period_s * 1000))

    def add(self, widget):
        """Buffer ``widget``'s events here (instead of in a thread of its own); returns it."""
        if getattr(widget, "_bufferedEventsTimer", None) is not None:
            widget.setEventBufferPeriod(0)  # a timer thread started already: stopped, buffer flushed
        widget._eventsBufferLock = threading.RLock()
        widget._bufferedEvents = {}
        widget._eventBufferPeriod = self.period_s
        self._widgets.append(widget)
        return widget

    def flush(self) -> None:
        for widget in self._widgets:
            if widget._bufferedEvents:
                widget.fireBufferedEvents()

    def close(self) -> None:
        """Stop buffering: every widget's models are detached (their subscriptions end)."""
        self._timer.stop()
        for widget in self._widgets:
            widget._eventBufferPeriod = 0
            widget._bufferedEvents = {}
            try:
                widget.setModel(None)
            except Exception:  # noqa: BLE001 (a widget Qt has deleted already)
                pass
        self._widgets = []
