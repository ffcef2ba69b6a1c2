"""Grafana provisioning files: the archive datasource, a dashboard provider and the dashboards.

    DIR/provisioning/datasources/trackerdcs.yaml
    DIR/provisioning/dashboards/trackerdcs.yaml   (a file provider reading DIR/dashboards)
    DIR/dashboards/*.json                         (db/deploy/grafana.py)

Both archive backends are read with InfluxQL: InfluxDB 1.x directly, InfluxDB 2.x through
the DBRP mapping of the station's ``database`` (docker/influxdb/initdb.d creates it) with v1
credentials. The password is never written: ``$__file{...}`` names the secret's file.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from db.config.station import LoadedStation
from db.deploy.grafana import DATASOURCE_UID, TARGETS, dashboards


def datasource(loaded: LoadedStation, target: str, url: str | None, user: str | None,
               password_file: str | None) -> dict:
    if target not in TARGETS:
        raise ValueError(f"unknown archive target {target!r} (known: {', '.join(TARGETS)})")
    archive = loaded.station.bridge.archive
    entry = {"name": f"{loaded.name} archive", "uid": DATASOURCE_UID, "type": "influxdb", "access": "proxy",
             "url": url or archive.url or "http://127.0.0.1:8086", "isDefault": True,
             "jsonData": {"version": "InfluxQL", "dbName": archive.database, "httpMode": "POST",
                          "timeInterval": "1s"}}
    if user:
        entry["user"] = user
    if password_file:
        entry["secureJsonData"] = {"password": f"$__file{{{password_file}}}"}
    comment = ("InfluxDB 1.x, database" if target == "influxdb1" else
               "InfluxDB 2.x through its DBRP mapping (InfluxQL), database")
    return {"apiVersion": 1, "_comment": f"{comment} {archive.database}; made by trackerdcs grafana export",
            "datasources": [entry]}


def provider(dashboards_path: Path, station: str) -> dict:
    return {"apiVersion": 1, "providers": [{
        "name": f"tracker-dcs {station}", "orgId": 1, "folder": f"tracker-dcs {station}", "type": "file",
        "disableDeletion": True, "allowUiUpdates": False, "updateIntervalSeconds": 30,
        "options": {"path": str(dashboards_path), "foldersFromFilesStructure": False}}]}


def export(loaded: LoadedStation, out: Path, target: str = "influxdb1", url: str | None = None,
           user: str | None = None, password_file: str | None = None, dashboards_path: str | None = None) -> list[Path]:
    """Write the provisioning; the files written."""
    out = Path(out)
    source = datasource(loaded, target, url, user, password_file)
    boards = dashboards(loaded)
    written = []
    for folder in ("provisioning/datasources", "provisioning/dashboards", "dashboards"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    comment = source.pop("_comment")
    path = out / "provisioning" / "datasources" / "trackerdcs.yaml"
    path.write_text(f"# {comment}\n" + yaml.safe_dump(source, sort_keys=False))
    written.append(path)
    path = out / "provisioning" / "dashboards" / "trackerdcs.yaml"
    where = Path(dashboards_path) if dashboards_path else (out / "dashboards").resolve()
    path.write_text(yaml.safe_dump(provider(where, loaded.name), sort_keys=False))
    written.append(path)
    for stale in (out / "dashboards").glob("*.json"):
        if stale.name not in boards:
            stale.unlink()  # a module removed from the station file: its dashboard goes too
    for name, board in boards.items():
        path = out / "dashboards" / name
        path.write_text(json.dumps(board, indent=2) + "\n")
        written.append(path)
    return written
