"""The panel's run view: each FC7 board's calibration (progress, Start with a tag, Abort, the last
runs with their state) and each IV scanner (Start with a preset, Abort, the last point)."""

from __future__ import annotations

import tango
from taurus.external.qt import Qt

from devices.daq.iv_scan import PRESETS

RUN_CLASSES = ("Ph2AcfRunner", "IvScanner")


class RunsView(Qt.QWidget):
    def __init__(self, panel, devices: list[tuple[str, str]]):
        super().__init__()
        self.panel = panel
        self.devices = [(d, c) for d, c in devices if c in RUN_CLASSES]
        self.progress: dict[str, Qt.QProgressBar] = {}
        self.tags: dict[str, Qt.QComboBox] = {}
        self.history: dict[str, Qt.QListWidget] = {}
        layout = Qt.QVBoxLayout(self)
        for device, cls in self.devices:
            layout.addWidget(self._board(device) if cls == "Ph2AcfRunner" else self._scanner(device))
        layout.addStretch(1)
        self._timer = Qt.QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(1000)
        self.refresh()

    def _controls(self, device: str, choices: list[str]) -> Qt.QHBoxLayout:
        row = Qt.QHBoxLayout()
        choice = Qt.QComboBox()
        choice.setObjectName(f"{device}/tag")
        choice.addItems(choices)
        row.addWidget(choice, 1)
        start = Qt.QPushButton("Start")
        start.setObjectName(f"{device}/Start")
        start.clicked.connect(lambda _=False, d=device, w=choice: self.panel.run_command(d, "Start", w.currentText())
                              and self.refresh())
        abort = Qt.QPushButton("Abort")
        abort.setObjectName(f"{device}/Abort")
        abort.clicked.connect(lambda _=False, d=device: self.panel.run_command(d, "Abort"))
        row.addWidget(start)
        row.addWidget(abort)
        self.tags[device] = choice
        return row

    def _values(self, device: str, attributes: tuple[str, ...]) -> Qt.QGridLayout:
        grid = Qt.QGridLayout()
        grid.addWidget(self.panel.label(device, "State", state=True), 0, 0)
        grid.addWidget(self.panel.label(device, "Status"), 0, 1, 1, 3)
        for i, attribute in enumerate(attributes):
            grid.addWidget(Qt.QLabel(attribute.replace("_", " ")), 1 + i // 2, 2 * (i % 2))
            grid.addWidget(self.panel.label(device, attribute), 1 + i // 2, 2 * (i % 2) + 1)
        return grid

    def _bar(self, device: str) -> Qt.QProgressBar:
        bar = Qt.QProgressBar()
        bar.setRange(0, 1000)
        bar.setObjectName(f"{device}/progress")
        self.progress[device] = bar
        return bar

    def _board(self, device: str) -> Qt.QGroupBox:
        box = Qt.QGroupBox(f"Calibration {device}")
        inner = Qt.QVBoxLayout(box)
        inner.addLayout(self._values(device, ("run_number", "calibration", "step", "eta", "run_status", "warnings")))
        inner.addWidget(self._bar(device))
        inner.addLayout(self._controls(device, []))
        runs = Qt.QListWidget()
        runs.setMaximumHeight(120)
        self.history[device] = runs
        inner.addWidget(Qt.QLabel("last runs"))
        inner.addWidget(runs)
        return box

    def _scanner(self, device: str) -> Qt.QGroupBox:
        box = Qt.QGroupBox(f"IV scan {device}")
        inner = Qt.QVBoxLayout(box)
        inner.addLayout(self._values(device, ("run_number", "run_status", "voltage", "current")))
        inner.addWidget(self._bar(device))
        inner.addLayout(self._controls(device, list(PRESETS)))
        return box

    def refresh(self) -> None:
        for device, cls in self.devices:
            try:
                proxy = tango.DeviceProxy(f"tango://{self.panel.host}/{device}")
                proxy.set_timeout_millis(1000)
                progress = proxy.progress
                self.progress[device].setValue(int(progress * 10))
                self.progress[device].setFormat(f"{progress:.1f} %")
                if cls == "Ph2AcfRunner":
                    if self.tags[device].count() == 0:
                        self.tags[device].addItems(list(proxy.allowed_calibrations or []))
                    runs = list(proxy.last_runs or [])
                    widget = self.history[device]
                    if [widget.item(i).text() for i in range(widget.count())] != runs:
                        widget.clear()
                        for text in runs:
                            item = Qt.QListWidgetItem(text)
                            if " done" not in text:
                                item.setBackground(Qt.QColor("#ffd27f"))
                            widget.addItem(item)
            except tango.DevFailed:
                continue
