"""`trackerdcs runs`: the calibration runs in the run store, with the conditions they ran under."""

from __future__ import annotations

import datetime as dt
import json

import click

from db.config.station import LoadedStation

STATION = click.option("-s", "--station", "file", envvar="TRACKERDCS_STATION", required=True,
                       type=click.Path(dir_okay=False), help="station file (or $TRACKERDCS_STATION)")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="machine-readable output")


def _fail(message: str) -> None:
    raise click.ClickException(message)


def open_store(station: LoadedStation):
    from devices.daq.run_store import RunStore

    store = station.station.runs.store
    try:
        opened = RunStore(store.client_uri, store.database, str(station.resolve(store.password_file) or "") or None)
    except (OSError, ValueError) as exc:
        _fail(f"run store: {exc}")
    click.get_current_context().call_on_close(opened.close)
    return opened


def _dump(data) -> str:
    def default(value):
        if isinstance(value, dt.datetime):
            return value.isoformat()
        return str(value)

    return json.dumps(data, default=default, indent=2, sort_keys=True)


def _when(value) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, dt.datetime) else "-"


def _run(store, number: int, device: str | None) -> dict:
    from devices.daq.run_store import RunStoreError

    try:
        run = store.run(number, device)
    except RunStoreError as exc:
        _fail(str(exc))
    if run is None:
        _fail(f"no run {number} in the run store" + (f" for {device}" if device else ""))
    return run


@click.group()
def runs() -> None:
    """Calibration runs (Ph2_ACF, IV) from the run store."""


@runs.command("list")
@STATION
@click.option("--module", help="only the runs of this module")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@AS_JSON
def runs_list(file: str, module: str | None, limit: int, as_json: bool) -> None:
    """The last runs, newest first."""
    from devices.daq.run_store import RunStoreError
    from trackerdcs.cli import _load

    store = open_store(_load(file))
    try:
        found = store.runs(limit, module)
    except RunStoreError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(_dump(found))
        return
    for r in found:
        grades = ", ".join(f"{m} {g}" for m, g in (r.get("grades") or {}).items())
        click.echo(f"run {r['run_number']:>5}  {_when(r.get('t_start'))}  {r.get('device', ''):<18} "
                   f"{r.get('calibration', ''):<24} {r.get('status', ''):<8} {grades or r.get('reason', '')}")
    click.echo(f"{len(found)} run(s)", err=True)


@runs.command("show")
@click.argument("number", type=int)
@STATION
@click.option("--device", help="the Ph2AcfRunner (when run numbers repeat across boards)")
@AS_JSON
def runs_show(number: int, file: str, device: str | None, as_json: bool) -> None:
    """One run: its steps, outcome, module results and the conditions at its start and end."""
    from trackerdcs.cli import _load

    store = open_store(_load(file))
    run = _run(store, number, device)
    results = store.module_results(run["_id"])
    snapshots = store.snapshots(run["_id"])
    if as_json:
        click.echo(_dump({"run": run, "module_results": results, "snapshots": snapshots}))
        return
    reason = run.get("reason") or ""
    click.echo(f"run {run['run_number']} on {run['device']}: {run.get('calibration')} {run.get('status')}"
               + (f" ({reason})" if reason and reason != run.get("status") else ""))
    click.echo(f"  {_when(run.get('t_start'))} -> {_when(run.get('t_end'))} UTC, modules {', '.join(run['modules'])}, "
               f"steps {run.get('steps_done', 0)}/{run.get('steps_total', 0)}, warnings {run.get('warnings', 0)}")
    if (run.get("files") or {}).get("results"):
        click.echo(f"  results: {run['files']['results']}")
    for r in results:
        s = r["summary"]
        click.echo(f"  module {r['module']}: {s['grade']}, {s['n_dead']} dead channel(s), hybrid mean noise "
                   + ", ".join(f"H{h['hybrid']} {h['mean_noise']:.2f}" for h in s["hybrids"]))
        for reason in s.get("reasons", [])[:5]:
            click.echo(f"    {reason}")
    _print_snapshots(snapshots)


def _print_snapshots(snapshots: list[dict]) -> None:
    for snap in snapshots:
        interlock = snap.get("interlock") or {}
        click.echo(f"  conditions at {snap['phase']} ({_when(snap['t'])} UTC), interlock "
                   f"{interlock.get('state', '-')}{' TRIPPED' if interlock.get('tripped') else ''}:")
        for name, v in sorted(snap["values"].items()):
            value = v.get("v")
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            click.echo(f"    {name:<40} {shown:>12}  {v.get('q', '')}")


def conditions_of(station: LoadedStation, run: dict, snapshots: list[dict]) -> dict:
    """The archived series over the run's window, and each snapshot value beside the archived
    value in effect at its time (the last archived point at or before it)."""
    from db.archive.base import ArchiveUnavailable
    from db.archive.open import open_reader

    window = run.get("archive") or {}
    start, stop = window.get("start"), window.get("stop") or dt.datetime.now(dt.UTC)
    since_ns, until_ns = int(start.timestamp() * 1e9) - 60 * 10**9, int(stop.timestamp() * 1e9)
    series, errors = {}, {}
    try:
        reader = open_reader(station)
    except (ArchiveUnavailable, ValueError, OSError) as exc:
        return {"series": {}, "joined": [], "errors": {"archive": str(exc)}}
    try:
        for full in window.get("attributes", []):
            device, _, attribute = full.rpartition("/")
            try:
                series[full] = reader.history(device, attribute, since_ns, until_ns, 100_000)
            except ArchiveUnavailable as exc:
                errors[full] = str(exc)
    finally:
        reader.close()
    joined = []
    for snap in snapshots:
        for name, v in snap["values"].items():
            points = [p for p in series.get(name, []) if v.get("t") is not None and p.ts_ns <= v["t"] * 1e9 + 1e6]
            archived = points[-1] if points else None
            joined.append({"phase": snap["phase"], "attribute": name, "snapshot": v.get("v"),
                           "snapshot_time": v.get("t"), "archived": archived.value if archived else None,
                           "archived_time": archived.ts_ns / 1e9 if archived else None})
    return {"series": {k: [{"t": p.ts_ns / 1e9, "v": p.value, "q": p.quality} for p in pts if p.ts_ns >= since_ns
                           + 60 * 10**9] for k, pts in series.items()},
            "joined": joined, "errors": errors}


@runs.command("conditions")
@click.argument("number", type=int)
@STATION
@click.option("--device", help="the Ph2AcfRunner (when run numbers repeat across boards)")
@click.option("--plot", type=click.Path(dir_okay=False), help="save a PNG of the archived conditions over the run")
@AS_JSON
def runs_conditions(number: int, file: str, device: str | None, plot: str | None, as_json: bool) -> None:
    """The run with its snapshots and the archived conditions over its window, joined on time."""
    from trackerdcs.cli import _load

    station = _load(file)
    store = open_store(station)
    run = _run(store, number, device)
    snapshots = store.snapshots(run["_id"])
    found = conditions_of(station, run, snapshots)
    if plot:
        from trackerdcs.run_plots import plot_conditions

        try:
            plot_conditions(found["series"], f"run {number}: {run.get('calibration')}", plot)
        except (OSError, ValueError) as exc:
            _fail(f"--plot {plot}: {exc}")
        click.echo(f"conditions of run {number} plotted to {plot}", err=True)
    if as_json:
        click.echo(_dump({"run": run, "snapshots": snapshots, **found}))
        return
    click.echo(f"run {run['run_number']} on {run['device']}: {run.get('calibration')} {run.get('status')}, "
               f"{_when(run['archive']['start'])} -> {_when(run['archive'].get('stop'))} UTC")
    for name, points in sorted(found["series"].items()):
        numbers = [p["v"] for p in points if isinstance(p["v"], (int, float)) and not isinstance(p["v"], bool)]
        span = f"min {min(numbers):.4g}  max {max(numbers):.4g}" if numbers else ""
        click.echo(f"  {name:<40} {len(points):>5} archived point(s)  {span}")
    for j in found["joined"]:
        click.echo(f"  {j['phase']:<5} {j['attribute']:<40} snapshot {j['snapshot']!s:>10}  archived {j['archived']!s:>10}")
    for name, error in found["errors"].items():
        click.echo(f"  {name}: {error}", err=True)


@runs.command("iv")
@click.argument("number", type=int)
@STATION
@click.option("--device", help="the IvScanner (when run numbers repeat across devices)")
@click.option("--plot", type=click.Path(dir_okay=False), help="save a PNG of the IV curve")
@AS_JSON
def runs_iv(number: int, file: str, device: str | None, plot: str | None, as_json: bool) -> None:
    """An IV scan: its points, how it ended and its central-database CSV."""
    from trackerdcs.cli import _load

    store = open_store(_load(file))
    run = _run(store, number, device) if device else _iv_run(store, number)
    scan = store.iv_scan(run["_id"])
    if scan is None and run.get("run_type") == "iv":
        _fail(f"IV scan run {number} on {run['device']} is {run.get('status')}: its points are stored when it ends")
    if scan is None:
        _fail(f"run {number} on {run['device']} is a {run.get('run_type')} run, not an IV scan")
    if plot:
        from trackerdcs.run_plots import plot_iv

        try:
            plot_iv([(f"run {number} {scan['module']}", scan["points"]["V"], scan["points"]["I"])],
                    f"IV scan run {number}: {scan['result']['status']}", plot)
        except (OSError, ValueError) as exc:
            _fail(f"--plot {plot}: {exc}")
        click.echo(f"IV curve of run {number} plotted to {plot}", err=True)
    if as_json:
        click.echo(_dump({"run": run, "iv_scan": scan}))
        return
    click.echo(f"IV scan run {number} of {scan['module']} on {scan['hv_device']}: {scan['result']['status']} "
               f"({scan['result']['reason']}), CSV {scan['csv']}")
    for v, i, t in zip(scan["points"]["V"], scan["points"]["I"], scan["points"]["T"], strict=True):
        click.echo(f"  {v:9.2f} V  {i * 1e9:10.2f} nA  " + ("" if t is None else f"{t:6.2f} C"))


def _iv_run(store, number: int) -> dict:
    runs_found = [r for r in store.db.runs.find({"run_number": number, "run_type": "iv"})]
    if not runs_found:
        _fail(f"no IV scan run {number} in the run store")
    if len(runs_found) > 1:
        _fail(f"IV run {number} exists on several devices ({', '.join(r['device'] for r in runs_found)}); "
              "name one with --device")
    return runs_found[0]


@click.command("report")
@click.argument("module")
@STATION
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="folder for the page")
def report(module: str, file: str, out_dir: str) -> None:
    """An HTML page (with PNG plots) of MODULE's whole test history: every run, IV curves, noise per chip
    and channel, dead channels, the conditions of each run and a pass/fail summary."""
    from pathlib import Path

    from devices.daq.run_store import RunStoreError
    from trackerdcs.cli import _load
    from trackerdcs.report import build_report

    station = _load(file)
    store = open_store(station)
    try:
        page = build_report(station, store, module, Path(out_dir))
    except (ValueError, OSError, RunStoreError) as exc:
        _fail(str(exc))
    click.echo(f"report of {module}: {page}")
