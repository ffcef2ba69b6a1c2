"""The station panel: a Taurus application generated from the station file.

Tabs: an overview (modules with their LV and HV channels, the cold box, the
interlocks, every other device: states in Tango colours and key values), a
form per device (TaurusForm; command buttons for the classes we know, a
generic form for any other Tango class), trends (taurus_pyqtgraph, prefilled
from the archive) and the interlock and alarm view. Every Taurus widget
buffers its events and repaints at most 10 times a second. Operator actions
go through Tango like any client; a refusal shows its reason in the status bar.

A large station (more than LARGE_MODULES modules) gets a tile per module with a
search instead (gui/module_tiles.py), device pages built when first shown, and
trends of its cold boxes only (each module has its Grafana dashboard).
"""

from __future__ import annotations

import json
import time

import tango
import taurus.tauruscustomsettings
from taurus.core.tango.util import tangoFormatter
from taurus.external.qt import Qt
from taurus.qt.qtgui.display import TaurusLabel
from taurus.qt.qtgui.panel import TaurusForm

from db.archive.open import open_reader
from db.config.classes import known_classes
from db.config.station import LoadedStation
from db.runtime.tango_database import answering
from gui.alarm_feed import AlarmFeed
from gui.event_buffer import SharedEventBuffer
from gui.module_tiles import ModuleTiles
from gui.runs_view import RUN_CLASSES, RunsView
from gui.tile_feed import TileFeed

REFRESH_S = 0.1  # coalesce updates: at most 10 Hz per widget
LARGE_MODULES = 8  # more modules: tiles with a search, device forms built when first shown, box trends only
HIDDEN_ATTRIBUTES = {"heartbeat"}  # the interlock's liveness counter: plumbing, and an event at every poll
TREND_HOURS = 2.0
TRENDS = {
    "Voltages": ("PowerSupplyChannel", ("voltage",)),
    "Currents": ("PowerSupplyChannel", ("current",)),
    "Cold box": ("EnvironmentSensor", ("temperature", "dew_point")),
}


# JSON text attributes, shown decoded in the interlock view instead of in a form: a Taurus label
# takes braces in a value for a template and logs "Error formatting display"
JSON_ATTRIBUTES = {"last_trip"}


class StationPanel(Qt.QMainWindow):
    def __init__(self, station: LoadedStation, parent=None):
        super().__init__(parent)
        # Display values with each attribute's own Tango format (e.g. %.4e for a µA leakage
        # current), not Taurus's default fixed-point one that shows it as 0.0000 A
        taurus.tauruscustomsettings.DEFAULT_FORMATTER = tangoFormatter
        self.station = station
        self.host = station.tango_host
        self.classes = known_classes()
        self.devices = [(d.name, d.class_) for _, d in station.station.devices()]
        self.devices += [(d.name, d.class_ or "") for d in station.station.external_devices]
        self._configured = [d for _, d in station.station.devices()] + list(station.station.external_devices)
        self.large = len(station.station.modules) > LARGE_MODULES
        self.setWindowTitle(f"tracker-dcs — station {station.name} ({self.host})")
        self.tabs = Qt.QTabWidget()
        self.setCentralWidget(self.tabs)
        self.message = Qt.QLabel("ready")
        self.statusBar().addWidget(self.message, 1)
        self.labels: dict[str, TaurusLabel] = {}  # model -> label (tests and screenshots look them up)
        self.events = SharedEventBuffer(REFRESH_S, self)  # one 10 Hz flush for every widget, no thread each
        self.tile_feed: TileFeed | None = None  # a large station's tiles: plain labels fed by events
        self.tabs.addTab(self._overview(), "Overview")
        self.tabs.addTab(self._forms(), "Devices")
        self.tabs.addTab(self._trends(), "Trends")
        self.alarm_feed = AlarmFeed(station) if station.station.bridge.enabled else None
        self.tabs.addTab(self._safety(), "Interlock && alarms")
        self.runs_view = None
        if any(cls in RUN_CLASSES for _, cls in self.devices):
            self.runs_view = RunsView(self, self.devices)
            self.tabs.addTab(self.runs_view, "Runs")
        self._timer = Qt.QTimer(self)
        self._timer.timeout.connect(self.refresh_safety)
        self._timer.start(1000)
        self.station_up: bool | None = None
        self._station_timer = Qt.QTimer(self)
        self._station_timer.timeout.connect(self.check_station)
        self._station_timer.start(2000)
        self.check_station()
        self.refresh_safety()

    # ------------------------------------------------------------- helpers
    def model(self, device: str, attribute: str) -> str:
        return f"tango://{self.host}/{device}/{attribute}"

    def label(self, device: str, attribute: str, state: bool = False) -> TaurusLabel:
        widget = self.events.add(TaurusLabel())
        if state:
            widget.setBgRole("value")  # Tango state colours
        widget.setModel(self.model(device, attribute))
        self.labels[self.model(device, attribute)] = widget
        return widget

    def check_station(self) -> None:
        """Say in the status bar when the station's Tango database does not answer (and when it is back)."""
        up = answering(self.host, timeout_ms=500)
        if up == self.station_up:
            return
        if not up:
            self.show_message(f"station {self.station.name} is down: its Tango database {self.host} does not answer "
                              f"(start it with: trackerdcs up {self.station.path})", error=True)
        elif self.station_up is False:
            self.show_message(f"station {self.station.name} is up again ({self.host})")
        self.station_up = up

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b00000; font-weight: bold" if error else "")

    def run_command(self, device: str, command: str, argument=None) -> bool:
        """Run a Tango command as an operator: success or the device's reason, never a traceback."""
        try:
            proxy = tango.DeviceProxy(f"tango://{self.host}/{device}")
            proxy.set_timeout_millis(5000)
            if argument is None:
                proxy.command_inout(command)
            else:
                proxy.command_inout(command, argument)
        except tango.DevFailed as exc:
            self.show_message(f"{device} {command} refused: {exc.args[0].desc.strip()}", error=True)
            return False
        except (TypeError, ValueError) as exc:  # an argument Tango cannot convert
            self.show_message(f"{device} {command}: bad argument {argument!r} ({exc})", error=True)
            return False
        self.show_message(f"{device} {command}: done")
        return True

    def command_buttons(self, device: str, cls: str) -> Qt.QWidget:
        box = Qt.QWidget()
        row = Qt.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        info = self.classes.get(cls)
        for name, command in (info.commands.items() if info else []):
            if command.argument != "none":
                continue
            button = Qt.QPushButton(name)
            button.setObjectName(f"{device}/{name}")
            button.setToolTip(command.doc)
            button.clicked.connect(lambda _=False, d=device, c=name: self.run_command(d, c))
            row.addWidget(button)
        row.addStretch(1)
        return box

    # ------------------------------------------------------------ overview
    def caption(self, device: str, attribute: str) -> str:
        """What a value is: the station file's label, else the attribute's name."""
        config = next((d.attributes.get(attribute) for d in self._configured if d.name == device), None)
        if config is not None and config.label:
            return config.label
        return attribute.replace("_", " ")

    def _device_row(self, grid: Qt.QGridLayout, row: int, device: str, cls: str, keys: tuple[str, ...]) -> None:
        grid.addWidget(Qt.QLabel(device), row, 0)
        grid.addWidget(self.label(device, "State", state=True), row, 1)
        for column, attribute in enumerate(keys, start=1):
            caption = Qt.QLabel(self.caption(device, attribute))
            caption.setAlignment(Qt.Qt.AlignRight | Qt.Qt.AlignVCenter)
            grid.addWidget(caption, row, 2 * column)
            grid.addWidget(self.label(device, attribute), row, 2 * column + 1)

    def _group(self, title: str, members: list[tuple[str, str, tuple[str, ...]]]) -> Qt.QGroupBox:
        box = Qt.QGroupBox(title)
        grid = Qt.QGridLayout(box)
        for row, (device, cls, keys) in enumerate(members):
            self._device_row(grid, row, device, cls, keys)
        return box

    def _overview(self) -> Qt.QWidget:
        if self.large:
            return self._tiles()
        page = Qt.QWidget()
        layout = Qt.QVBoxLayout(page)
        shown = set()
        for module in self.station.station.modules:
            members = [(lv, "PowerSupplyChannel", ("voltage", "current")) for lv in module.lv]
            members.append((module.hv, "PowerSupplyChannel", ("voltage", "current")))
            layout.addWidget(self._group(f"Module {module.name}: LV then HV", members))
            shown |= set(module.lv) | {module.hv}
        coldbox = [(d, c, ("temperature", "humidity", "dew_point") if c == "EnvironmentSensor"
                    else ("bath_temperature", "setpoint")) for d, c in self.devices if c in ("EnvironmentSensor", "Chiller")]
        if coldbox:
            layout.addWidget(self._group("Cold box", coldbox))
            shown |= {d for d, _, _ in coldbox}
        safety = [(d, c, ("tripped",)) for d, c in self.devices if c == "SafetyInterlock"]
        if safety:
            layout.addWidget(self._group("Interlocks", safety))
            shown |= {d for d, _, _ in safety}
        others = [(d, c, ("Status",)) for d, c in self.devices if d not in shown]
        if others:
            layout.addWidget(self._group("Other devices", others))
        layout.addStretch(1)
        return page

    def _tiles(self) -> Qt.QWidget:
        """A large station: a tile per module, then the cold boxes and the interlocks."""
        below = []
        coldbox = [(d, c, ("temperature", "humidity", "dew_point_margin") if c == "EnvironmentSensor"
                    else ("bath_temperature",)) for d, c in self.devices if c in ("EnvironmentSensor", "Chiller")]
        if coldbox:
            below.append(self._group("Cold boxes", coldbox))
        safety = [(d, c, ("tripped",)) for d, c in self.devices if c == "SafetyInterlock"]
        if safety:
            below.append(self._group("Interlocks", safety))
        self.tile_feed = TileFeed(self.host, REFRESH_S, self)
        self.tiles = ModuleTiles(self.station.station.modules, self.tile_feed.label, self.open_device, below)
        self.tile_feed.start()
        return self.tiles

    def open_device(self, device: str) -> None:
        """Drill down: the device's page in the Devices tab."""
        index = self._device_index.get(device)
        if index is not None:
            self.tabs.setCurrentIndex(1)
            self.device_tabs.setCurrentIndex(index)

    # --------------------------------------------------------------- forms
    def foreign_command_buttons(self, device: str) -> Qt.QWidget:
        """Buttons for the commands the station file allows on a device of a class we do not know
        (external_devices[].mqtt.commands); argument-less ones run at a click, others ask for it."""
        box = Qt.QWidget()
        row = Qt.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        config = next((d for d in self.station.station.external_devices if d.name == device), None)
        for name in (config.mqtt.commands if config is not None else []):
            button = Qt.QPushButton(name)
            button.setObjectName(f"{device}/{name}")
            button.clicked.connect(lambda _=False, d=device, c=name: self._run_foreign(d, c))
            row.addWidget(button)
        row.addStretch(1)
        return box

    def _run_foreign(self, device: str, command: str) -> bool:
        try:
            proxy = tango.DeviceProxy(f"tango://{self.host}/{device}")
            proxy.set_timeout_millis(3000)
            takes = proxy.command_query(command).in_type != tango.CmdArgType.DevVoid
        except tango.DevFailed as exc:
            self.show_message(f"{device} {command} refused: {exc.args[0].desc.strip()}", error=True)
            return False
        if not takes:
            return self.run_command(device, command)
        text, ok = Qt.QInputDialog.getText(self, f"{device} {command}", f"argument of {command}:")
        return self.run_command(device, command, text) if ok else False

    def _forms(self) -> Qt.QWidget:
        """A page per device; on a large station each page is built when first shown."""
        tabs = Qt.QTabWidget()
        tabs.setTabPosition(Qt.QTabWidget.West)
        self.device_tabs = tabs
        self.forms: dict[str, TaurusForm] = {}
        self._device_index: dict[str, int] = {}
        self._pending: dict[int, tuple[Qt.QWidget, str, str]] = {}
        for device, cls in self.devices:
            page = Qt.QWidget()
            Qt.QVBoxLayout(page)
            self._device_index[device] = tabs.addTab(page, device)
            if self.large:
                self._pending[self._device_index[device]] = (page, device, cls)
            else:
                self._fill(page, device, cls)
        tabs.currentChanged.connect(self._build_shown)
        return tabs

    def _build_shown(self, index: int) -> None:
        pending = self._pending.pop(index, None)
        if pending is not None:
            self._fill(*pending)

    def _fill(self, page: Qt.QWidget, device: str, cls: str) -> None:
        layout = page.layout()
        form = TaurusForm()
        info = self.classes.get(cls)
        if info is not None:
            names = ["State", "Status"] + [a for a in info.attributes if a not in ("State", "Status")
                                           and a not in JSON_ATTRIBUTES and a not in HIDDEN_ATTRIBUTES]
            form.setModel([self.model(device, a) for a in names])
            layout.addWidget(self.command_buttons(device, cls))
            limits = self.limits(device, info)
            if limits:
                note = Qt.QLabel("limits (the device refuses beyond them): " + limits)
                note.setObjectName(f"{device}/limits")
                layout.addWidget(note)
        else:  # a class we do not know: a generic form of whatever attributes the device has
            form.setModel([self.model(device, a) for a in self._attributes_of(device)])
            layout.addWidget(self.foreign_command_buttons(device))
        for item in form.getItems():
            if hasattr(item, "setEventBufferPeriod"):
                self.events.add(item)
        layout.addWidget(form, 1)
        self.forms[device] = form

    def limits(self, device: str, info) -> str:
        """The device's limit properties as the station file sets them (or the class defaults)."""
        config = next((d for _, d in self.station.station.devices() if d.name == device), None)
        properties = self.station.device_properties(config) if config is not None else {}
        parts = []
        for name, prop in info.properties.items():
            if name.endswith(("_min", "_max")) or name.startswith(("min_", "max_")):
                parts.append(f"{name} = {properties.get(name, prop.default)}")
        return ", ".join(parts)

    def _attributes_of(self, device: str) -> list[str]:
        try:
            proxy = tango.DeviceProxy(f"tango://{self.host}/{device}")
            proxy.set_timeout_millis(2000)
            names = list(proxy.get_attribute_list())
        except tango.DevFailed:
            return ["State", "Status"]
        return ["State", "Status"] + [n for n in names if n not in ("State", "Status") and n not in HIDDEN_ATTRIBUTES]

    # -------------------------------------------------------------- trends
    def _trends(self) -> Qt.QWidget:
        from taurus_pyqtgraph import TaurusTrend

        page = Qt.QWidget()
        layout = Qt.QVBoxLayout(page)
        self.trends = {}
        try:
            reader = open_reader(self.station)
        except Exception as exc:  # noqa: BLE001 - the archive is optional for the live view
            reader = None
            self.show_message(f"archive not readable, trends start empty: {exc}", error=True)
        until = time.time_ns()
        since = until - int(TREND_HOURS * 3600e9)
        for title, (cls, attributes) in TRENDS.items():
            if self.large and cls == "PowerSupplyChannel":
                continue  # hundreds of curves help nobody: each module has its own Grafana dashboard
            models = [(d, a) for d, c in self.devices if c == cls for a in attributes]
            if not models:
                continue
            trend = TaurusTrend()
            trend.setModel([self.model(d, a) for d, a in models])
            trend.setTitle(title)
            for device, attribute in models:
                self._prefill(trend, reader, device, attribute, since, until)
            layout.addWidget(trend)
            self.trends[title] = trend
        foreign = [(d.name, attribute) for d in self.station.station.external_devices
                   for attribute, config in d.attributes.items() if config.archive]
        if foreign:  # archived attributes of foreign devices: one trend with all of them
            trend = TaurusTrend()
            trend.setModel([self.model(d, a) for d, a in foreign])
            trend.setTitle("Other devices")
            for device, attribute in foreign:
                self._prefill(trend, reader, device, attribute, since, until)
            layout.addWidget(trend)
            self.trends["Other devices"] = trend
        if reader is not None:
            reader.close()
        return page

    def _prefill(self, trend, reader, device: str, attribute: str, since: int, until: int) -> None:
        """Draw the archived hours under the live curve, so a fresh panel is not empty."""
        if reader is None:
            return
        try:
            points = reader.history(device, attribute, since, until, 20_000)
        except Exception:  # noqa: BLE001 - an unreachable archive only costs the history
            return
        xs = [p.ts_ns / 1e9 for p in points if isinstance(p.value, (int, float))]
        ys = [float(p.value) for p in points if isinstance(p.value, (int, float))]
        if xs:
            trend.plot(xs, ys, name=f"{device}/{attribute} (archive)", pen=(150, 150, 150))

    # ------------------------------------------------------- interlock view
    def _safety(self) -> Qt.QWidget:
        page = Qt.QWidget()
        layout = Qt.QVBoxLayout(page)
        self.rule_lists: dict[str, Qt.QListWidget] = {}
        self.rule_choice: dict[str, Qt.QComboBox] = {}
        self.trip_labels: dict[str, Qt.QLabel] = {}
        for device, cls in self.devices:
            if cls != "SafetyInterlock":
                continue
            box = Qt.QGroupBox(f"Interlock {device}")
            inner = Qt.QVBoxLayout(box)
            inner.addWidget(self.label(device, "Status"))
            rules = Qt.QListWidget()
            inner.addWidget(rules)
            trip = Qt.QLabel("last trip: —")
            trip.setWordWrap(True)
            inner.addWidget(trip)
            row = Qt.QHBoxLayout()
            choice = Qt.QComboBox()
            row.addWidget(choice, 1)
            for command in ("Acknowledge", "Reset"):
                button = Qt.QPushButton(command)
                button.setObjectName(f"{device}/{command}")
                button.clicked.connect(lambda _=False, d=device, c=command, w=choice:
                                       self.run_command(d, c, w.currentText()) and self.refresh_safety())
                row.addWidget(button)
            inner.addLayout(row)
            layout.addWidget(box)
            self.rule_lists[device], self.rule_choice[device], self.trip_labels[device] = rules, choice, trip
        self.alarm_table = Qt.QTableWidget(0, 5)
        self.alarm_table.setHorizontalHeaderLabels(["source", "alarm", "raised", "acknowledged", "cleared"])
        self.alarm_table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(Qt.QLabel("Alarms (newest first)"))
        layout.addWidget(self.alarm_table, 1)
        return page

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Closed, the panel stops asking: its timers stop and its widgets' subscriptions end."""
        self._timer.stop()
        self._station_timer.stop()
        self.events.close()
        if self.tile_feed is not None:
            self.tile_feed.close()
        if self.alarm_feed is not None:
            self.alarm_feed.close()
            self.alarm_feed = None
        super().closeEvent(event)

    def refresh_safety(self) -> None:
        for device, rules in self.rule_lists.items():
            try:
                proxy = tango.DeviceProxy(f"tango://{self.host}/{device}")
                proxy.set_timeout_millis(1000)
                states = list(proxy.rule_states or [])
                trip = json.loads(proxy.last_trip or "{}")
            except (tango.DevFailed, ValueError):
                continue
            rules.clear()
            for entry in states:
                item = Qt.QListWidgetItem(entry)
                if "TRIPPED" in entry:
                    item.setBackground(Qt.QColor("#ff8c8c"))
                elif "UNSAFE" in entry:
                    item.setBackground(Qt.QColor("#ffd27f"))
                rules.addItem(item)
            choice = self.rule_choice[device]
            names = [e.split(":")[0] for e in states]
            if [choice.itemText(i) for i in range(choice.count())] != names:
                choice.clear()
                choice.addItems(names)
            if trip:
                values = ", ".join(f"{k.split('/')[-1]}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in trip.get("values", {}).items())
                self.trip_labels[device].setText(f"last trip: {trip['rule']} at "
                                                 f"{time.strftime('%H:%M:%S', time.localtime(trip['time']))} — {values}")
        records = self.alarm_feed.records()[:200] if self.alarm_feed is not None else []
        self.alarm_table.setRowCount(len(records))

        def stamp(t):
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""

        for row, record in enumerate(records):
            cells = [str(record.get("source", "")), str(record.get("id", "")), stamp(record.get("raised")),
                     stamp(record.get("acknowledged")), stamp(record.get("cleared")) if record.get("cleared") else "ACTIVE"]
            for column, text in enumerate(cells):
                self.alarm_table.setItem(row, column, Qt.QTableWidgetItem(text))
