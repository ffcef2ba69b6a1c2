"""`trackerdcs grafana export`: Grafana provisioning (datasource, dashboards) from the station file."""

from __future__ import annotations

from pathlib import Path

import click

from trackerdcs.stack_cli import STATION_ARG, _station


@click.group()
def grafana() -> None:
    """Grafana dashboards and datasource, generated from the station file (never drawn by hand)."""


@grafana.command("export")
@STATION_ARG
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False),
              help="folder to write provisioning/ and dashboards/ into")
@click.option("--target", type=click.Choice(["influxdb1", "influxdb2"]), default="influxdb1", show_default=True,
              help="the archive Grafana reads, both with InfluxQL (2.x through its DBRP mapping)")
@click.option("--url", help="the archive's URL as Grafana reaches it (default: the station's bridge archive url)")
@click.option("--user", help="the InfluxQL user Grafana logs in as (a read-only one)")
@click.option("--password-file", help="the file, on the Grafana host, holding that user's password")
@click.option("--dashboards-path", help="where Grafana finds the dashboards (default: OUT/dashboards)")
def grafana_export(file: str, out: str, target: str, url: str | None, user: str | None, password_file: str | None,
                   dashboards_path: str | None) -> None:
    """Write Grafana provisioning for the station: the archive datasource, a dashboard provider and
    the dashboards (overview, one per module, interlock, bridge health), with alarm annotations."""
    from db.deploy.grafana_export import export

    station = _station(file)
    try:
        written = export(station, Path(out), target, url, user, password_file, dashboards_path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"~ {path}")
    click.echo(f"{len(written) - 2} dashboard(s) for {target}; copy {Path(out) / 'provisioning'}/* into Grafana's "
               f"provisioning folder and restart Grafana")
