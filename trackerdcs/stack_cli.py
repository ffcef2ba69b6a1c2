"""`trackerdcs stack`: what the docker compose stack needs from the station file. The stack itself
runs with plain compose commands (docker/README.md)."""

from __future__ import annotations

from pathlib import Path

import click

from db.config.validation import StationFileError, load_station

STATION_ARG = click.argument("file", type=click.Path(dir_okay=False))


def _station(file: str):
    try:
        return load_station(file)
    except StationFileError as exc:
        problems = "\n".join(p.format(exc.filename) for p in exc.problems)
        raise click.ClickException(f"{len(exc.problems)} problem(s) in {file}:\n{problems}") from None


@click.group()
def stack() -> None:
    """Files for the docker compose stack (docker/compose.yaml), from the station file."""


@stack.command("init")
@STATION_ARG
@click.option("-d", "--dir", "out", default="docker", show_default=True, type=click.Path(file_okay=False),
              help="the compose folder: its secrets/ and generated/ folders are written")
@click.option("-n", "--name", "names", multiple=True,
              help="a name or address the broker and the gateway are reached by (the host's FQDN); repeatable")
def stack_init(file: str, out: str, names: tuple[str, ...]) -> None:
    """Make the missing secrets (never overwritten) and write the broker's config, password file and
    ACL, the lab CA and the server certificates again."""
    from db.deploy import stack_files

    station = _station(file)
    try:
        written = stack_files.init(station, Path(out), list(names))
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in written.made:
        click.echo(f"+ secret {path}")
    for path in written.generated:
        click.echo(f"~ {path}")
    click.echo(f"{len(written.made)} secret(s) made, {len(written.kept)} kept; "
               f"clients trust {Path(out) / 'generated' / 'tls' / 'ca.crt'}")


@stack.command("acl")
@STATION_ARG
def stack_acl(file: str) -> None:
    """Print the broker's ACL made from the station file's MQTT permissions."""
    from db.deploy import mqtt_acl

    click.echo(mqtt_acl.render(_station(file)), nl=False)
