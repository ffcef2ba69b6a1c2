"""Grafana provisioning generated from the station file (``trackerdcs grafana export``).

Dashboards are built with Grafana's own typed builders (``grafana-foundation-sdk``); the
InfluxQL targets and annotations, which that SDK has no builder for, are the two small
classes below. Every time-series query is bounded: ``$timeFilter`` and
``GROUP BY time($__interval)``, with each panel's ``maxDataPoints`` and minimum interval
set, so a week-long range asks InfluxDB for at most ``MAX_POINTS`` buckets per series.

The archive layout it reads (DESIGN.md): measurement = Tango family, tags station,
device, attribute, unit; field ``value`` (numbers, booleans as 0/1) or ``text``.
Alarm events are points of measurement ``alarm`` and the bridge's health figures of
measurement ``bridge`` (bridges/archived_events.py): the annotations on every dashboard
and the bridge dashboard read them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import statetimeline, table, timeseries
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from db.config.classes import known_classes
from db.config.station import DeviceConfig, LoadedStation

DATASOURCE_UID = "trackerdcs-archive"
DATASOURCE = model.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)
TARGETS = ("influxdb1", "influxdb2")
MAX_POINTS = 1000
MIN_INTERVAL = "1s"
UNITS = {"V": "volt", "A": "amp", "degC": "celsius", "%": "percent", "s": "s", "ms": "ms", "Hz": "hertz",
         "W": "watt", "mbar": "pressurembar", "Pa": "pressurepa"}
STATE_COLORS = {"raised": "red", "acknowledged": "orange", "cleared": "green"}


class InfluxQL(cogvariants.Dataquery):
    """One raw InfluxQL target (Grafana's influxdb datasource, InfluxQL mode)."""

    def __init__(self, ref_id: str, query: str, alias: str = "", result_format: str = "time_series"):
        self.ref_id, self.query, self.alias, self.result_format = ref_id, query, alias, result_format

    def build(self) -> InfluxQL:
        return self

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": DATASOURCE, "query": self.query, "rawQuery": True,
                "resultFormat": self.result_format, "alias": self.alias}


class InfluxAnnotation:
    """An annotation read with InfluxQL: ``text`` becomes the annotation's text, ``tags`` (the alarm
    id, or the run's device) its tag. Both the current (``target``) and the legacy keys are written."""

    def __init__(self, name: str, query: str, color: str, tags: str = "attribute"):
        self.name, self.query, self.color, self.tags = name, query, color, tags

    def build(self) -> InfluxAnnotation:
        return self

    def to_json(self) -> dict[str, object]:
        columns = {"textColumn": "text", "tagsColumn": self.tags, "titleColumn": ""}
        return {"name": self.name, "datasource": DATASOURCE, "enable": True, "hide": False, "iconColor": self.color,
                "query": self.query, **columns,
                "target": {"refId": "Anno", "query": self.query, "rawQuery": True, "resultFormat": "table", **columns}}


@dataclass(frozen=True)
class Series:
    """One archived attribute, as the dashboards show it."""

    device: str
    attribute: str
    label: str
    unit: str
    kind: str  # float, int, bool, str, state
    min_alarm: float | None = None
    min_warning: float | None = None
    max_warning: float | None = None
    max_alarm: float | None = None

    @property
    def family(self) -> str:
        return self.device.split("/")[1]

    @property
    def numeric(self) -> bool:
        return self.kind in ("float", "int", "bool")


def quote(text: str) -> str:
    """An InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def series_query(station: str, series: Series) -> str:
    field, fill = ('mean("value")', "none") if series.kind in ("float", "int") else \
        ('last("value")' if series.kind == "bool" else 'last("text")', "none")
    return (f'SELECT {field} FROM "{series.family}" WHERE "station" = {quote(station)} AND "device" = '
            f'{quote(series.device)} AND "attribute" = {quote(series.attribute)} AND $timeFilter '
            f"GROUP BY time($__interval) fill({fill})")


def alarm_state_query(station: str, alarm_id: str) -> str:
    return (f'SELECT last("text") FROM "alarm" WHERE "station" = {quote(station)} AND "attribute" = '
            f"{quote(alarm_id)} AND $timeFilter GROUP BY time($__interval) fill(none)")


def alarm_annotation_query(station: str) -> str:
    return (f'SELECT "text", "attribute" FROM "alarm" WHERE "station" = {quote(station)} AND $timeFilter '
            f"ORDER BY time DESC LIMIT {MAX_POINTS}")


def runs_annotation_query(station: str, devices: list[str]) -> str:
    names = " OR ".join(f'"device" = {quote(d)}' for d in devices)
    return (f'SELECT "text", "device" FROM "{devices[0].split("/")[1]}" WHERE "station" = {quote(station)} AND '
            f'"attribute" = \'run_summary\' AND ({names}) AND $timeFilter ORDER BY time DESC LIMIT {MAX_POINTS}')


def health_query(station: str, figure: str) -> str:
    return (f'SELECT last("value") FROM "bridge" WHERE "station" = {quote(station)} AND "attribute" = '
            f"{quote(figure)} AND $timeFilter GROUP BY time($__interval) fill(none)")


def grafana_unit(unit: str) -> str:
    return UNITS.get(unit, f"suffix: {unit}" if unit else "none")


def archived_series(loaded: LoadedStation) -> list[Series]:
    classes = known_classes()
    found = []
    for _, device in loaded.station.devices():
        info = classes.get(device.class_)
        for name, config in device.attributes.items():
            if not config.archive:
                continue
            attr = info.attributes.get(name) if info else None
            found.append(Series(device.name, name, config.label or f"{device.name.split('/')[-1]} {name}",
                                config.unit or (attr.unit if attr else ""), attr.type if attr else "float",
                                config.min_alarm, config.min_warning, config.max_warning, config.max_alarm))
    for device in loaded.station.external_devices:
        for name, config in device.attributes.items():
            if config.archive:
                found.append(Series(device.name, name, config.label or f"{device.name} {name}", config.unit or "",
                                    "float", config.min_alarm, config.min_warning, config.max_warning, config.max_alarm))
    return found


class _Layout:
    """Panel ids and grid positions: two panels a row, rows full width."""

    def __init__(self):
        self.next_id, self.x, self.y = 1, 0, 0

    def row(self) -> tuple[int, model.GridPos]:
        if self.x:
            self.x, self.y = 0, self.y + 8
        place = model.GridPos(h=1, w=24, x=0, y=self.y)
        self.y += 1
        return self._id(), place

    def panel(self) -> tuple[int, model.GridPos]:
        place = model.GridPos(h=8, w=12, x=self.x, y=self.y)
        self.x = 12 - self.x
        if not self.x:
            self.y += 8
        return self._id(), place

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def _thresholds(series: list[Series]) -> gd.ThresholdsConfig | None:
    limits = {(s.min_alarm, s.min_warning, s.max_warning, s.max_alarm) for s in series}
    if len(limits) != 1 or limits == {(None, None, None, None)}:
        return None  # one set of lines per panel: only when every series shares it
    min_alarm, min_warning, max_warning, max_alarm = limits.pop()
    base = "red" if min_alarm is not None else "orange" if min_warning is not None else "green"
    steps = [model.Threshold(None, base)]
    for value, color in ((min_alarm, "orange" if min_warning is not None else "green"), (min_warning, "green"),
                         (max_warning, "orange"), (max_alarm, "red")):
        if value is not None:
            steps.append(model.Threshold(value, color))
    return gd.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)


class _Board:
    def __init__(self, loaded: LoadedStation, uid: str, title: str, tags: Iterable[str] = ()):
        self.station = loaded.name
        self.layout = _Layout()
        self.builder = (gd.Dashboard(title).uid(uid).tags(["tracker-dcs", self.station, *tags])
                        .time("now-6h", "now").refresh("10s").timezone("browser").editable()
                        .annotation(InfluxAnnotation("Alarms", alarm_annotation_query(self.station), "red")))
        runners = sorted(s.device for s in archived_series(loaded) if s.attribute == "run_summary")
        for family in sorted({d.split("/")[1] for d in runners}):
            self.builder.annotation(InfluxAnnotation(
                "Calibration runs", runs_annotation_query(self.station, [d for d in runners if f"/{family}/" in d]),
                "blue", "device"))

    def row(self, title: str) -> None:
        panel_id, place = self.layout.row()
        self.builder.with_row(gd.Row(title).id(panel_id).grid_pos(place))

    def trend(self, title: str, series: list[Series]) -> None:
        if not series:
            return
        panel_id, place = self.layout.panel()
        panel = (timeseries.Panel().id(panel_id).title(title).grid_pos(place).datasource(DATASOURCE)
                 .max_data_points(MAX_POINTS).interval(MIN_INTERVAL).unit(grafana_unit(series[0].unit))
                 .span_nulls(True))
        thresholds = _thresholds(series)
        if thresholds is not None:
            panel.thresholds(thresholds).thresholds_style(_LineStyle())  # the station's limits as lines
        for index, one in enumerate(series):
            panel.with_target(InfluxQL(_ref(index), series_query(self.station, one), one.label))
        self.builder.with_panel(panel)

    def timeline(self, title: str, targets: list[InfluxQL], mappings: list | None = None) -> None:
        if not targets:
            return
        panel_id, place = self.layout.panel()
        panel = (statetimeline.Panel().id(panel_id).title(title).grid_pos(place).datasource(DATASOURCE)
                 .max_data_points(MAX_POINTS).interval(MIN_INTERVAL))
        if mappings:
            panel.mappings(mappings)
        for target in targets:
            panel.with_target(target)
        self.builder.with_panel(panel)

    def alarm_table(self) -> None:
        panel_id, place = self.layout.panel()
        self.builder.with_panel(table.Panel().id(panel_id).title("Alarm events (latest first)").grid_pos(place)
                                .datasource(DATASOURCE)
                                .with_target(InfluxQL("A", alarm_annotation_query(self.station), "", "table")))

    def json(self) -> dict:
        return _without_nulls(json.loads(json.dumps(self.builder.build(), cls=JSONEncoder)))


def _without_nulls(node):
    """The builders write unset fields as null; Grafana wants them left out."""
    if isinstance(node, dict):
        return {key: _without_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [_without_nulls(value) for value in node]
    return node


class _LineStyle:
    def build(self) -> common.GraphThresholdsStyleConfig:
        return common.GraphThresholdsStyleConfig(mode=common.GraphTresholdsStyleMode.LINE)


def _ref(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"A{index}"


BOOL_MAPPINGS = [model.ValueMap({"0": model.ValueMappingResult(text="off", color="blue"),
                                 "1": model.ValueMappingResult(text="on", color="green")})]
ALARM_MAPPINGS = [model.RegexMap(model.DashboardRegexMapOptions(pattern=f"^({kind}).*", result=model.ValueMappingResult(
    text="$1", color=color))) for kind, color in STATE_COLORS.items()]


def _of(series: list[Series], devices: Iterable[str], attribute: str) -> list[Series]:
    wanted = list(devices)
    return sorted((s for s in series if s.device in wanted and s.attribute == attribute),
                  key=lambda s: wanted.index(s.device))


def _power_rows(board: _Board, series: list[Series], lv: list[str], hv: list[str]) -> None:
    board.trend("LV voltage", _of(series, lv, "voltage"))
    board.trend("LV current", _of(series, lv, "current"))
    board.trend("HV voltage", _of(series, hv, "voltage") + _of(series, hv, "voltage_setpoint"))
    board.trend("HV current", _of(series, hv, "current"))
    states = [s for s in series if s.device in (*lv, *hv) and s.kind in ("bool", "str", "state")]
    board.timeline("Outputs and trips", [InfluxQL(_ref(i), series_query(board.station, s), s.label)
                                         for i, s in enumerate(states)], BOOL_MAPPINGS)


def _devices_of(loaded: LoadedStation, classes: tuple[str, ...]) -> list[DeviceConfig]:
    return [d for _, d in loaded.station.devices() if d.class_ in classes]


def _environment_rows(board: _Board, loaded: LoadedStation, series: list[Series]) -> None:
    for device in _devices_of(loaded, ("EnvironmentSensor", "Chiller")):
        mine = [s for s in series if s.device == device.name]
        if not mine:
            continue
        board.row(device.name)
        for one in mine:
            if one.kind in ("float", "int"):
                board.trend(one.label, [one])
        flags = [s for s in mine if s.kind == "bool"]
        board.timeline(f"{device.name} states", [InfluxQL(_ref(i), series_query(board.station, s), s.label)
                                                 for i, s in enumerate(flags)], BOOL_MAPPINGS)


def overview(loaded: LoadedStation, series: list[Series]) -> dict:
    board = _Board(loaded, f"{loaded.name}-overview", f"{loaded.name}: station overview", ["overview"])
    for module in loaded.station.modules:
        board.row(f"module {module.name}")
        _power_rows(board, series, list(module.lv), [module.hv])
    _environment_rows(board, loaded, series)
    shown = {(s.device, s.attribute) for s in series if any(s.device in (*m.lv, m.hv) for m in loaded.station.modules)}
    shown |= {(s.device, s.attribute) for d in _devices_of(loaded, ("EnvironmentSensor", "Chiller"))
              for s in series if s.device == d.name}
    rest = [s for s in series if (s.device, s.attribute) not in shown]
    if rest:
        board.row("other archived attributes")
        for one in rest:
            if one.numeric:
                board.trend(one.label, [one])
            else:
                board.timeline(one.label, [InfluxQL("A", series_query(loaded.name, one), one.label)])
    return board.json()


def module_board(loaded: LoadedStation, series: list[Series], module) -> dict:
    board = _Board(loaded, f"{loaded.name}-module-{module.name}", f"{loaded.name}: module {module.name}", ["module"])
    board.row(f"module {module.name} ({module.type})")
    _power_rows(board, series, list(module.lv), [module.hv])
    _environment_rows(board, loaded, series)
    return board.json()


def interlock_board(loaded: LoadedStation, series: list[Series]) -> dict:
    board = _Board(loaded, f"{loaded.name}-interlock", f"{loaded.name}: interlock", ["interlock"])
    safety = loaded.station.safety
    rules = [str(rule.get("name")) for rule in (safety.rules if safety else [])]
    board.row("interlock rules")
    board.timeline("Rule states (raised, acknowledged, cleared)",
                   [InfluxQL(_ref(i), alarm_state_query(loaded.name, rule), rule) for i, rule in enumerate(rules)],
                   ALARM_MAPPINGS)
    board.alarm_table()
    attribute_alarms = [s for s in series if any(v is not None for v in (s.min_alarm, s.max_alarm))]
    board.timeline("Attribute alarms", [InfluxQL(_ref(i), alarm_state_query(loaded.name, f"{s.device}/{s.attribute}"),
                                                 f"{s.device}/{s.attribute}") for i, s in enumerate(attribute_alarms)],
                   ALARM_MAPPINGS)
    if safety is not None:
        mine = [s for s in series if s.device == safety.device]
        for one in mine:
            board.timeline(one.label, [InfluxQL("A", series_query(loaded.name, one), one.label)], BOOL_MAPPINGS)
    return board.json()


HEALTH_PANELS = [("Events in", "events_in"), ("Archived", "archived"), ("Published on MQTT", "published"),
                 ("Dropped (queue overflow)", "dropped"), ("Spooled (not yet archived)", "spooled"),
                 ("Queue", "queue"), ("Archive lag", "archive_lag_ms"), ("MQTT lag", "mqtt_lag_ms"),
                 ("Archive commit p99", "archive_commit_p99_ms"), ("Gateway requests", "gateway_requests"),
                 ("Resubscriptions", "resubscribed"), ("Pipeline errors", "pipeline_errors")]


def bridge_board(loaded: LoadedStation) -> dict:
    board = _Board(loaded, f"{loaded.name}-bridge", f"{loaded.name}: bridge health", ["bridge"])
    board.row("the event bridge (archived every 10 s)")
    for title, figure in HEALTH_PANELS:
        unit = "ms" if figure.endswith("_ms") else "none"
        panel_id, place = board.layout.panel()
        board.builder.with_panel(timeseries.Panel().id(panel_id).title(title).grid_pos(place).datasource(DATASOURCE)
                                 .max_data_points(MAX_POINTS).interval(MIN_INTERVAL).unit(unit)
                                 .with_target(InfluxQL("A", health_query(loaded.name, figure), figure)))
    return board.json()


def dashboards(loaded: LoadedStation) -> dict[str, dict]:
    """File name -> dashboard JSON, every panel id unique within its dashboard."""
    series = archived_series(loaded)
    boards = {"overview.json": overview(loaded, series), "interlock.json": interlock_board(loaded, series),
              "bridge.json": bridge_board(loaded)}
    for module in loaded.station.modules:
        boards[f"module-{module.name}.json"] = module_board(loaded, series, module)
    for name, board in boards.items():
        check_dashboard(name, board)
    return boards


def panels(board: dict) -> list[dict]:
    found = []
    for panel in board.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def check_dashboard(name: str, board: dict) -> None:
    """The typed model reads it back, panel ids are unique, every query is bounded."""
    model.Dashboard.from_json(board)
    ids = [p["id"] for p in panels(board)]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{name}: duplicate panel ids {sorted({i for i in ids if ids.count(i) > 1})}")
    for panel in panels(board):
        for target in panel.get("targets") or []:
            query = target["query"]
            if "$timeFilter" not in query or not ("GROUP BY time($__interval)" in query or " LIMIT " in query):
                raise ValueError(f"{name}: panel {panel.get('title')!r} has an unbounded query: {query}")
