"""The module tiles' values: change events of a few attributes of many devices, painted at 10 Hz.

A Taurus label per tile value makes Taurus build a device object per device in the GUI thread,
and each one costs the Tango database three calls (alias, class, import): 300 devices kept a
100-module panel closed for 20 s. Here the tiles are plain labels. Their events are subscribed
by worker threads, with the restart-surviving subscriptions that the bridge and the interlock
use (devices/subscriptions.py), so the window opens before the first subscription is made. Each
event only stores the newest value; one Qt timer in the GUI thread paints what changed.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import tango
from taurus.external.qt import Qt
from taurus.qt.qtgui.util import QT_DEVICE_STATE_PALETTE

from devices.subscriptions import EventSubscriptions

SUBSCRIBING_THREADS = 4
NO_VALUE = "—"


def text_of(attribute: str, value) -> str:
    """How a tile shows a value: a state by name, a voltage in V, a current in A (leakage: µA)."""
    if value is None:
        return NO_VALUE
    if attribute == "State":
        return str(tango.DevState(int(value))) if not isinstance(value, tango.DevState) else str(value)
    if attribute == "voltage":
        return f"{float(value):.1f} V"
    if attribute == "current":
        return f"{float(value):.4g} A"
    return str(value)


class _Callback:
    __slots__ = ("feed", "key")

    def __init__(self, feed: TileFeed, key: tuple[str, str]):
        self.feed, self.key = feed, key

    def push_event(self, event) -> None:
        try:
            if event.err:
                error = event.errors[0].desc.strip().splitlines()[0] if event.errors else "event error"
                self.feed.store(self.key, None, error)
            else:
                value = event.attr_value
                invalid = value.quality == tango.AttrQuality.ATTR_INVALID
                self.feed.store(self.key, None if invalid else value.value, "invalid" if invalid else "")
        except Exception as exc:  # noqa: BLE001 (cppTango's event thread must never see an exception)
            self.feed.store(self.key, None, f"unreadable event: {exc}")


class TileFeed(Qt.QObject):
    def __init__(self, host: str, period_s: float, parent: Qt.QObject | None = None):
        super().__init__(parent)
        self.host = host
        self._proxies: dict[str, tango.DeviceProxy] = {}
        self._proxies_lock = threading.Lock()
        self.labels: dict[tuple[str, str], Qt.QLabel] = {}
        self._pending: dict[tuple[str, str], tuple[object, str]] = {}
        self._lock = threading.Lock()
        self.failed: dict[tuple[str, str], str] = {}  # subscriptions refused at start (tango retries them)
        name, _, port = host.partition(":")
        self.subscriptions = EventSubscriptions(self._proxy, lambda: tango.Database(name, int(port)),
                                                name="tile-restart-watcher")
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._timer = Qt.QTimer(self)
        self._timer.timeout.connect(self.paint)
        self._timer.start(int(period_s * 1000))

    def _proxy(self, device: str) -> tango.DeviceProxy:
        with self._proxies_lock:
            proxy = self._proxies.get(device)
            if proxy is None:
                proxy = self._proxies[device] = tango.DeviceProxy(f"tango://{self.host}/{device}")
                proxy.set_timeout_millis(3000)
            return proxy

    def label(self, device: str, attribute: str, state: bool = False) -> Qt.QLabel:
        """A tile value: shown once its first event comes."""
        widget = Qt.QLabel(NO_VALUE)
        widget.setObjectName(f"tile-value/{device}/{attribute}")
        widget.setAlignment(Qt.Qt.AlignCenter)
        widget.setProperty("state", state)
        self.labels[(device, attribute)] = widget
        return widget

    def start(self) -> None:
        """Subscribe every label's attribute, in worker threads; the GUI thread does not wait."""
        self._thread = threading.Thread(target=self._subscribe_all, name="tile-subscriber", daemon=True)
        self._thread.start()

    def _subscribe_all(self) -> None:
        def one(key: tuple[str, str]) -> None:
            if self._closing.is_set():
                return
            try:
                self.subscriptions.add(key[0], key[1], tango.EventType.CHANGE_EVENT, _Callback(self, key))
            except tango.DevFailed as exc:  # a stateless subscription: Tango retries it
                self.failed[key] = exc.args[0].desc.strip()

        with ThreadPoolExecutor(SUBSCRIBING_THREADS, thread_name_prefix="tile-subscribe") as pool:
            list(pool.map(one, list(self.labels)))
        if not self._closing.is_set():
            self.subscriptions.watch()

    def store(self, key: tuple[str, str], value, problem: str) -> None:
        with self._lock:
            self._pending[key] = (value, problem)

    def paint(self) -> None:
        """The newest value of each attribute that changed since the last paint."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for (device, attribute), (value, problem) in pending.items():
            widget = self.labels.get((device, attribute))
            if widget is None:
                continue
            widget.setText(text_of(attribute, value))
            widget.setToolTip(f"{device}/{attribute}" + (f": {problem}" if problem else ""))
            if widget.property("state") and value is not None:
                widget.setStyleSheet(QT_DEVICE_STATE_PALETTE.qtStyleSheet(text_of(attribute, value)))
            elif value is None:
                widget.setStyleSheet("color: #808080")  # no value: unknown, never shown as a reading
            else:
                widget.setStyleSheet("")

    def text(self, device: str, attribute: str) -> str:
        return self.labels[(device, attribute)].text()

    def close(self) -> None:
        self._timer.stop()
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.subscriptions.close()
