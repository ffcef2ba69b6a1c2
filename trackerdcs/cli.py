"""The ``trackerdcs`` command: the station's one entry point."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
import tango
from rich.console import Console
from rich.table import Table

from db.config import tango_config
from db.config.validation import StationFileError, load_station
from db.runtime.process import PortTaken
from db.runtime.tango_database import DatabaseError, EmbeddedDatabase, answering, connect
from servers import control
from servers.launcher import LaunchError, run_foreground

console = Console(width=None if sys.stdout.isatty() else 160)

ROOT = Path(__file__).resolve().parent.parent


def _load(path: str):
    try:
        return load_station(path)
    except StationFileError as exc:
        for problem in exc.problems:
            click.echo(problem.format(exc.filename), err=True)
        click.echo(f"{len(exc.problems)} problem(s) in {path}", err=True)
        sys.exit(1)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="log more")
def cli(verbose: bool) -> None:
    """Detector control system of a tracker module-test station (Tango Controls)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)


# ------------------------------------------------------------------ config
@cli.group()
def config() -> None:
    """Check a station file and apply it to the Tango database."""


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def config_check(file: str) -> None:
    """Report every problem of FILE (exit 1 when there is one)."""
    station = _load(file)
    devices = len(station.station.devices())
    console.print(f"{file}: OK — station {station.name}, {len(station.station.servers)} server(s), {devices} device(s)")


def _plan(file: str, prune: bool):
    station = _load(file)
    try:
        db = connect(station.tango_host)
        return station, tango_config.plan(station, db, prune=prune)
    except DatabaseError as exc:
        _fail(str(exc))
    except Exception as exc:  # DevFailed from an unreachable database
        _fail(f"cannot read the Tango database at {station.tango_host}: {getattr(exc, 'args', [exc])[0]}")


@config.command("diff")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prune", is_flag=True, help="also list the station's devices that left the file")
def config_diff(file: str, prune: bool) -> None:
    """Show what 'apply' would change in the Tango database (nothing is written)."""
    _, changes = _plan(file, prune)
    for change in changes:
        click.echo(str(change))
    if not changes:
        console.print("no changes")


@config.command("apply")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prune", is_flag=True, help="remove the station's devices that left the file (never others)")
def config_apply(file: str, prune: bool) -> None:
    """Write servers, devices, properties and attribute properties of FILE to the Tango database."""
    _, changes = _plan(file, prune)
    tango_config.apply(changes)
    for change in changes:
        click.echo(str(change))
    console.print(f"{len(changes)} change(s) applied")


# ---------------------------------------------------------------- database
@cli.group()
def db() -> None:
    """The embedded Tango database of a station."""


def _database(file: str) -> EmbeddedDatabase:
    try:
        return EmbeddedDatabase.of(_load(file))
    except DatabaseError as exc:
        _fail(str(exc))


@db.command("start")
@click.argument("file", type=click.Path(dir_okay=False))
def db_start(file: str) -> None:
    """Start the embedded database detached (pid file in the data directory)."""
    database = _database(file)
    if database.answering():
        _fail(f"a Tango database already answers on {database.tango_host}")
    try:
        child = database.start(detached=True)
    except (DatabaseError, PortTaken) as exc:
        _fail(str(exc))
    console.print(f"Tango database up on {database.tango_host} (PID {child.pid}); export TANGO_HOST={database.tango_host}")


@db.command("stop")
@click.argument("file", type=click.Path(dir_okay=False))
def db_stop(file: str) -> None:
    """Stop the embedded database started by 'db start'."""
    database = _database(file)
    pid = database.running_pid()
    if pid is None:
        console.print("the embedded database is not running (no live pid file)")
        return
    database.stop()
    console.print(f"stopped the Tango database (PID {pid})")


@db.command("status")
@click.argument("file", type=click.Path(dir_okay=False))
def db_status(file: str) -> None:
    """Say whether the station's database answers (exit 1 when not)."""
    database = _database(file)
    pid = database.running_pid()
    if database.answering():
        owner = f"PID {pid}" if pid else "not started by this station"
        console.print(f"Tango database answers on {database.tango_host} ({owner}); file {database.db_file}")
    else:
        console.print(f"no Tango database answers on {database.tango_host}")
        sys.exit(1)


# ----------------------------------------------------------------- station
def _print_connect(station) -> None:
    console.print(f"Station [bold]{station.name}[/] is up. Connect with:")
    console.print(f"  export TANGO_HOST={station.tango_host}")
    for server, device in station.station.devices():
        console.print(f"  {device.name:<32} {device.class_:<22} ({server.name})", highlight=False)
    if station.station.devices():
        first = station.station.devices()[0][1].name
        console.print(f'  python -c "import tango; print(tango.DeviceProxy(\'{first}\').state())"', highlight=False)
    mqtt = station.station.bridge.mqtt
    host, port = mqtt.broker
    console.print(f"MQTT: {host}:{port}, topics {mqtt.topic_prefix}/<device>/<attribute> "
                  f"(try: mosquitto_sub -h {host} -p {port} -t '{mqtt.topic_prefix}/#' -v)", highlight=False)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--detach", is_flag=True, help="run in the background; stop with 'trackerdcs down FILE'")
def up(file: str, detach: bool) -> None:
    """Start the station described by FILE and supervise it (Ctrl-C stops everything)."""
    station = _load(file)
    if detach:
        try:
            state = control.up_detached(station)
        except LaunchError as exc:
            _fail(str(exc))
        _print_connect(station)
        console.print(f"launcher PID {state['launcher_pid']}, up in {state.get('startup_s', 0):.2f} s; "
                      f"stop with: trackerdcs down {file}")
        return
    code = run_foreground(station, on_ready=lambda launcher, elapsed: _print_connect(station))
    sys.exit(code)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
def down(file: str) -> None:
    """Stop a station started with 'up --detach'."""
    station = _load(file)
    stopped = control.down(station)
    console.print("stopped: " + ", ".join(stopped) if stopped else f"station {station.name} was not running")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(file: str, as_json: bool) -> None:
    """Every device of the station with class, state, status and key values."""
    station = _load(file)
    bridge_health = control.bridge_status(station)
    if not answering(station.tango_host):
        if as_json:
            click.echo(json.dumps({"station": station.name, "tango_host": station.tango_host, "database": "not answering",
                                   "devices": [], "bridge": bridge_health}, indent=2))
        click.echo(f"the station's Tango database at {station.tango_host} does not answer: is the station up? "
                   f"(trackerdcs up {file})", err=True)
        sys.exit(1)
    rows = control.device_status(station)
    if as_json:
        click.echo(json.dumps({"station": station.name, "tango_host": station.tango_host,
                               "devices": [row.as_dict() for row in rows], "bridge": bridge_health}, indent=2))
        return
    table = Table(title=f"station {station.name} ({station.tango_host})")
    for column in ("device", "class", "state", "status", "values"):
        table.add_column(column)
    for row in rows:
        values = ", ".join(f"{k}={_short(v)}" for k, v in row.attributes.items())
        table.add_row(row.name + (" (external)" if row.external else ""), row.device_class, row.state, row.status, values)
    console.print(table)
    if bridge_health is not None:
        condition = bridge_health["status"]
        figures = ", ".join(f"{key}={bridge_health.get(key)}" for key in
                            ("events_in", "archived", "published", "spooled", "gateway_errors", "pipeline_errors"))
        console.print(f"bridge: {condition.upper()}" + (f" — {bridge_health.get('reason')}" if bridge_health.get("reason") else "")
                      + f" ({figures})", highlight=False)
        for target, reason in sorted((bridge_health.get("subscription_errors") or {}).items()):
            console.print(f"  no events from {target}: {reason}", highlight=False)


def _me() -> str:
    """How this command was called (e.g. .venv/bin/trackerdcs), for hints the user can paste."""
    return sys.argv[0] if sys.argv and sys.argv[0].endswith("trackerdcs") else "trackerdcs"


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@cli.command()
def demo() -> None:
    """Run the demo station (emulated instruments) in the foreground."""
    for candidate in (ROOT / "stations" / "demo.yaml", Path.cwd() / "stations" / "demo.yaml"):
        if candidate.exists():
            station = _load(str(candidate))
            break
    else:
        _fail("stations/demo.yaml not found: run from the tracker-dcs checkout")
    code = run_foreground(station, on_ready=lambda launcher, elapsed: (
        _print_connect(station),
        console.print(f"Up in {elapsed:.1f} s. Try:  {_me()} status {candidate}   — Ctrl-C stops the demo.",
                      highlight=False),
    ))
    sys.exit(code)


# --------------------------------------------------------------- emulators
@cli.group()
def sim() -> None:
    """Instrument emulators and their fault injection."""


@sim.command("run")
@click.argument("specs", nargs=-1, required=True, metavar="MODEL@HOST:PORT/CONTROL_PORT...")
def sim_run(specs: tuple[str, ...]) -> None:
    """Serve emulated instruments (hmp4040, keithley2410, sht85, julabo); cold-box ones share one model.

    Example: trackerdcs sim run sht85@127.0.0.1:15031/15032 julabo@127.0.0.1:15033/15034
    """
    from devices.sim.__main__ import main as sim_main

    sys.exit(sim_main([arg for spec in specs for arg in ("--serve", spec)]))


@sim.command("station")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="only check that the station's emulators serve (exit 1 if not)")
def sim_station(file: str, check: bool) -> None:
    """Run the emulators of FILE's emulated instruments in the foreground (as `up` does), or check them."""
    from db.runtime.process import PortTaken
    from servers import emulators

    station = _load(file)
    if check:
        missing = emulators.serving(station)
        if missing:
            _fail(f"emulators not serving: {', '.join(missing)}")
        return
    try:
        sys.exit(emulators.run_foreground(station))
    except PortTaken as exc:
        _fail(str(exc))


@sim.command("fault")
@click.argument("address")
@click.argument("command", nargs=-1, required=True)
def sim_fault(address: str, command: tuple[str, ...]) -> None:
    """Send COMMAND (disconnect, silent, garbage, slow S, trip [CH], set NAME VALUE, restore, state)
    to the emulator whose control port is ADDRESS (host:port)."""
    from devices.sim.server import EmulatorControl

    host, _, port = address.rpartition(":")
    if not port.isdigit():
        _fail(f"ADDRESS must be host:port, not {address!r}")
    try:
        reply = EmulatorControl(host or "127.0.0.1", int(port)).send(" ".join(command))
    except (OSError, RuntimeError) as exc:
        _fail(str(exc))
    click.echo(reply or "OK")


# ------------------------------------------------------------------ serve
@cli.command()
@click.argument("server", metavar="EXECUTABLE/INSTANCE")
@click.option("-s", "--station", "file", envvar="TRACKERDCS_STATION", required=True,
              type=click.Path(dir_okay=False), help="station file (or $TRACKERDCS_STATION)")
@click.option("--publish", envvar="TANGO_PUBLISH_HOST", help="host name clients reach it by (default: this host's FQDN)")
def serve(server: str, file: str, publish: str | None) -> None:
    """Run one device server of the station in the foreground, on its fixed ports (a container's command)."""
    from servers.serve import ServeError
    from servers.serve import serve as run_server

    try:
        sys.exit(run_server(_load(file), server, publish))
    except ServeError as exc:
        _fail(str(exc))


# ------------------------------------------------------------------ bridge
@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
def bridge(file: str) -> None:
    """Run the event bridge of FILE in the foreground (trackerdcs up starts it too)."""
    from bridges.service import run_bridge

    sys.exit(run_bridge(_load(file)))


@cli.command()
@click.argument("target", metavar="DEVICE/ATTRIBUTE")
@click.option("-s", "--station", "file", envvar="TRACKERDCS_STATION", required=True,
              type=click.Path(dir_okay=False), help="station file (or $TRACKERDCS_STATION)")
@click.option("--since", default="1h", show_default=True, help="start: 30m, 1h, 2d or an ISO time")
@click.option("--until", default="now", show_default=True, help="end: now, 10m or an ISO time")
@click.option("--limit", default=100_000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--csv", "as_csv", is_flag=True, help="print CSV")
@click.option("--plot", type=click.Path(dir_okay=False), help="save a PNG plot")
def history(target: str, file: str, since: str, until: str, limit: int, as_csv: bool, plot: str | None) -> None:
    """Archived values of DEVICE/ATTRIBUTE (e.g. demo/hv/module1/voltage) in a bounded time range."""
    from db.archive import history as hist
    from db.archive.base import ArchiveUnavailable
    from db.archive.open import SecretError, open_reader

    parts = target.strip("/").split("/")
    if len(parts) != 4 or not all(parts):
        _fail(f"expected DEVICE/ATTRIBUTE like demo/hv/module1/voltage, got {target!r}")
    device, attribute = "/".join(parts[:3]).lower(), parts[3]
    station = _load(file)
    try:
        since_ns, until_ns = hist.parse_time(since), hist.parse_time(until)
        hist.check_range(since_ns, until_ns)
        if plot:
            hist.check_plot_path(plot)
        reader = open_reader(station)
        points = reader.history(device, attribute, since_ns, until_ns, limit)
        reader.close()
    except (ValueError, ArchiveUnavailable, SecretError) as exc:
        _fail(str(exc))
    if plot:
        try:
            hist.plot_png(points, f"{device}/{attribute}", "", plot)
        except (RuntimeError, OSError, ValueError) as exc:
            _fail(f"--plot {plot}: {exc}")
        click.echo(f"{len(points)} points plotted to {plot}", err=True)
    if as_csv:
        click.echo(hist.to_csv(points), nl=False)
    elif not plot:
        for p in points:
            click.echo(f"{hist.iso(p.ts_ns)}  {p.value!s:>14}  {p.quality}")
        click.echo(f"{len(points)} point(s)", err=True)


from trackerdcs.grafana_cli import grafana  # noqa: E402
from trackerdcs.nodered_cli import nodered  # noqa: E402
from trackerdcs.runs_cli import report, runs  # noqa: E402
from trackerdcs.stack_cli import stack  # noqa: E402

cli.add_command(runs)
cli.add_command(report)
cli.add_command(stack)
cli.add_command(grafana)
cli.add_command(nodered)


# ------------------------------------------------------------------- GUI
@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--screenshot", type=click.Path(dir_okay=False), help="render offscreen and save a PNG, then exit")
@click.option("--settle", default=3.0, show_default=True, help="seconds of live updates before the screenshot")
@click.option("--tab", type=click.IntRange(0, 4), default=0, show_default=True,
              help="tab shown: 0 overview, 1 devices, 2 trends, 3 interlock & alarms, 4 runs (with run devices)")
def gui(file: str, screenshot: str | None, settle: float, tab: int) -> None:
    """The operator panel (Taurus), generated from FILE."""
    try:
        from gui.app import run_gui
    except ImportError as exc:
        _fail(f"the GUI needs the gui extra: pip install -e '.[gui]' ({exc})")
    sys.exit(run_gui(_load(file), screenshot, settle, tab))


# ------------------------------------------------------------ operations
@cli.command()
@click.argument("action", type=click.Choice(["on", "off"]))
@click.argument("module")
@click.option("-s", "--station", "file", envvar="TRACKERDCS_STATION", required=True,
              type=click.Path(dir_okay=False), help="station file (or $TRACKERDCS_STATION)")
@click.option("--hv", "hv_volts", type=float, help="with on: the HV setpoint to ramp to, V (default: the one set)")
def power(action: str, module: str, file: str, hv_volts: float | None) -> None:
    """Power MODULE on (LV, wait stable, HV ramp) or off (HV ramp down, LV off), stopping at the first failure."""
    from servers.sequencing import Sequence, SequenceFailed, find_module

    station = _load(file)
    if hv_volts is not None and action == "off":
        _fail("--hv is for 'power on' only")
    try:
        sequence = Sequence(find_module(station, module), station.tango_host, report=lambda text: click.echo(text),
                            hv_volts=hv_volts)
        sequence.check()  # every setpoint it would write, against the devices' limits, before anything is switched
        (sequence.power_on if action == "on" else sequence.power_off)()
    except ValueError as exc:
        _fail(str(exc))
    except SequenceFailed as exc:
        _fail(f"power {action} {module} {exc}; done before that: {', '.join(exc.done) or 'nothing'}")
    except tango.DevFailed as exc:
        _fail(f"power {action} {module}: the station's devices do not answer on {station.tango_host} "
              f"({exc.args[0].desc.strip()}); is the station up? (trackerdcs up {file})")
    click.echo(f"{module} is {'on' if action == 'on' else 'off'}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--active", is_flag=True, help="only alarms not cleared")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def alarms(file: str, active: bool, as_json: bool) -> None:
    """The station's alarm records: interlock trips and attribute alarms, raised / acknowledged / cleared."""
    from db.archive.history import iso
    from devices import alarm_log

    station = _load(file)
    records = [r for r in alarm_log.records(alarm_log.alarm_file(station.data_dir)) if r.active or not active]
    if as_json:
        click.echo(json.dumps([r.__dict__ | {"active": r.active} for r in records], indent=2, default=str))
        return
    table = Table(title=f"alarms of station {station.name} ({len(records)})")
    for column in ("source", "alarm", "raised", "acknowledged", "cleared", "values"):
        table.add_column(column)
    for r in records:
        stamp = lambda t: iso(int(t * 1e9))[:23] if t else "—"  # noqa: E731
        values = ", ".join(f"{k.split('/')[-1]}={_short(v)}" for k, v in r.values.items())
        table.add_row(r.source, r.id, stamp(r.raised), stamp(r.acknowledged), stamp(r.cleared) if r.cleared else "ACTIVE",
                      values)
    console.print(table)


@cli.group()
def docs() -> None:
    """Generated documentation."""


@docs.command("classes")
def docs_classes() -> None:
    """Markdown tables of every device class (the README section)."""
    from db.config.class_docs import classes_markdown

    click.echo(classes_markdown())


def main() -> None:
    """No traceback reaches a user: an error nobody foresaw is one line (the traceback with -v)."""
    try:
        code = cli(prog_name="trackerdcs", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        click.echo(f"error: {type(exc).__name__}: {message} (run with -v for the details)", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
