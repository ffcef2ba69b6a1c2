"""The overview of a large station: one tile per module, in a scroll area, with a search box.

A tile shows the module's LV and HV states in Tango colours and its HV voltage and current: plain
labels fed by change events (gui/tile_feed.py), not Taurus widgets, so a hundred modules open in
seconds. "Details"
opens the module's HV device in the Devices tab (built when first shown). The search keeps the
tiles whose module or device names contain the text.
"""

from __future__ import annotations

from collections.abc import Callable

from taurus.external.qt import Qt

COLUMNS = 5


class ModuleTiles(Qt.QWidget):
    def __init__(self, modules, label: Callable, open_device: Callable[[str], None], below: list[Qt.QWidget],
                 parent=None):
        super().__init__(parent)
        layout = Qt.QVBoxLayout(self)
        self.search = Qt.QLineEdit()
        self.search.setObjectName("module-search")
        self.search.setPlaceholderText(f"search {len(modules)} modules (name or device)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.filter)
        layout.addWidget(self.search)
        inner = Qt.QWidget()
        self.grid = Qt.QGridLayout(inner)
        self.tiles: dict[str, tuple[Qt.QGroupBox, str]] = {}
        for module in modules:
            box = Qt.QGroupBox(module.name)
            box.setObjectName(f"tile/{module.name}")
            rows = Qt.QGridLayout(box)
            for row, (caption, device, attribute, state) in enumerate(
                    [(f"LV {i + 1}", lv, "State", True) for i, lv in enumerate(module.lv)]
                    + [("HV", module.hv, "State", True), ("HV V", module.hv, "voltage", False),
                       ("HV I", module.hv, "current", False)]):
                rows.addWidget(Qt.QLabel(caption), row, 0)
                rows.addWidget(label(device, attribute, state), row, 1)
            details = Qt.QPushButton("Details")
            details.setObjectName(f"details/{module.name}")
            details.clicked.connect(lambda _=False, d=module.hv: open_device(d))
            rows.addWidget(details, len(module.lv) + 3, 0, 1, 2)
            self.tiles[module.name] = (box, " ".join([module.name, *module.lv, module.hv]).lower())
        self._place(list(self.tiles))
        for widget in below:
            self.grid.addWidget(widget, self.grid.rowCount(), 0, 1, COLUMNS)
        self._below = below
        scroll = Qt.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        layout.addWidget(scroll, 1)

    def _place(self, shown: list[str]) -> None:
        for name, (box, _) in self.tiles.items():
            self.grid.removeWidget(box)
            box.setVisible(name in shown)
        for index, name in enumerate(shown):
            self.grid.addWidget(self.tiles[name][0], index // COLUMNS, index % COLUMNS)

    def filter(self, text: str) -> None:
        words = text.lower().split()
        shown = [name for name, (_, haystack) in self.tiles.items() if all(w in haystack for w in words)]
        self._place(shown)
        for widget in self._below:  # the cold boxes and interlocks stay under the tiles
            self.grid.removeWidget(widget)
            self.grid.addWidget(widget, self.grid.rowCount(), 0, 1, COLUMNS)

    def visible(self) -> list[str]:
        return [name for name, (box, _) in self.tiles.items() if not box.isHidden()]
