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
@click.option("--tls-ca", metavar="PATH",
              help="reach the broker over TLS, checking its certificate against this CA file (a path in "
                   "Node-RED's file system, or ${VAR} for one from its environment)")
@click.option("--credential-secret-file", type=click.Path(dir_okay=False, exists=True),
              help="Node-RED's credentialSecret: the broker account (${MQTT_USER}, ${MQTT_PASSWORD} from "
                   "Node-RED's environment) is written to flows_cred.json, encrypted with it")
def nodered_export(file: str, out: str, tls_ca: str | None, credential_secret_file: str | None) -> None:
    """Write the flows: a dashboard page per module (LV and HV controls, readbacks, states), the
    cold box, and the alarms with Acknowledge; the gateway's refusals shown to the operator."""
    from db.deploy.nodered import export

    station = _station(file)
    try:
        secret = Path(credential_secret_file).read_text().strip() if credential_secret_file else None
        if secret == "":
            raise ValueError(f"{credential_secret_file} is empty")
        path, generated, kept = export(station, Path(out), tls_ca, secret)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"~ {path}: {generated} generated node(s), {kept} of your own kept")
