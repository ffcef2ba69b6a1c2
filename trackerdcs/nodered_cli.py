"""`trackerdcs nodered export`: Node-RED flows (FlowFuse Dashboard 2.0) from the station file."""

from __future__ import annotations

from pathlib import Path

import click

from trackerdcs.stack_cli import STATION_ARG, _station


@click.group()
def nodered() -> None:
    """Node-RED operator flows, generated from the station file (MQTT only, through the bridge's gateway)."""


@nodered.command("export")
@STATION_ARG
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False),
              help="Node-RED's folder: its flows.json is written (your own flows in it are kept)")
def nodered_export(file: str, out: str) -> None:
    """Write the flows: a dashboard page per module (LV and HV controls, readbacks, states), the
    cold box, and the alarms with Acknowledge; the gateway's refusals shown to the operator."""
    from db.deploy.nodered import export

    station = _station(file)
    try:
        path, generated, kept = export(station, Path(out))
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"~ {path}: {generated} generated node(s), {kept} of your own kept")
