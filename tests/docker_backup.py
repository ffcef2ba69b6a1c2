"""The backup and the restore of docs/operations.md, run by the stack test where the backup image
(offen/docker-volume-backup) cannot be pulled: the same steps that image takes, from the same
compose labels and mounts. First each service's `docker-volume-backup.archive-pre` command (the
dumps), then one tar.gz of the volumes mounted under /backup in the backup service. The restore
follows docs/operations.md, "Restore", with InfluxDB 1.x's portable restore for the archive."""
from __future__ import annotations

import json
import subprocess
import tarfile
import time
from pathlib import Path

from docker_stack import BASE_IMAGE, Engine, Project

PRE = "docker-volume-backup.archive-pre"


def _config(project: Project) -> dict:
    return json.loads(project.compose("--profile", "registry-only", "config", "--format", "json").stdout)


def _backed_up_volumes(config: dict) -> dict[str, str]:
    """volume name -> its folder under /backup, from the backup service's mounts."""
    mounts = {}
    for volume in config["services"]["backup"]["volumes"]:
        if volume["type"] == "volume" and volume["target"].startswith("/backup/"):
            mounts[config["volumes"][volume["source"]]["name"]] = volume["target"].removeprefix("/backup/")
    return mounts


def _existing(engine: Engine, volumes: dict[str, str]) -> dict[str, str]:
    """Those volumes the stack made (a service disabled here, Grafana, made none)."""
    return {v: t for v, t in volumes.items()
            if engine.docker("volume", "inspect", v, check=False, capture=True).returncode == 0}


def backup(project: Project, engine: Engine, folder: Path) -> tuple[Path, int]:
    """Dump, then archive the volumes; (the archive, the time of the dumps in ns)."""
    config = _config(project)
    taken = time.time_ns()
    for name, row in project.ps().items():  # the labels as the containers have them ($$ is $ there)
        labels = json.loads(engine.docker("inspect", row["ID"], capture=True).stdout)[0]["Config"]["Labels"]
        if PRE in labels and row["State"] == "running":
            project.compose("exec", "-T", name, "sh", "-c", labels[PRE], timeout=300)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / time.strftime("trackerdcs-%Y-%m-%dT%H-%M-%S.tar.gz")
    mounts = [arg for volume, target in _existing(engine, _backed_up_volumes(config)).items()
              for arg in ("-v", f"{volume}:/backup/{target}:ro")]
    # GNU tar exits 1 when a file changed while it was read (the live alarm log, the bridge's
    # state): that file is in the archive as it was; 2 is a real failure
    engine.docker("run", "--rm", *mounts, "-v", f"{folder}:/archive", BASE_IMAGE, "sh", "-c",
                  f"tar -C / --warning=no-file-changed -czf /archive/{archive.name} backup; [ $? -le 1 ]",
                  capture=True, timeout=600)
    return archive, taken


def restore(project: Project, engine: Engine, archive: Path) -> None:
    """Into empty volumes: the Tango DB from its dump, the archive, then the volumes' files."""
    unpacked = archive.parent / "restore"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="fully_trusted")  # our own archive; keeps owners and modes
    config = _config(project)
    project.compose("up", "-d", "--wait", "tango-db", "influxdb", timeout=300)
    volumes = {v: t for v, t in _backed_up_volumes(config).items() if (unpacked / "backup" / t).is_dir()}
    dump = (unpacked / "backup/dumps/tango.sql").read_bytes()
    subprocess.run(project.command("exec", "-T", "tango-db", "sh", "-c",
                                   'mariadb -uroot -p"$(cat /run/secrets/tangodb_root_pw)"'),
                   input=dump, env=project.env(), check=True, capture_output=True, timeout=300)
    for volume, target in volumes.items():
        engine.docker("run", "--rm", "-v", f"{volume}:/v", "-v", f"{unpacked}/backup/{target}:/b:ro", BASE_IMAGE,
                      "cp", "-a", "/b/.", "/v/", capture=True, timeout=300)
    project.compose("exec", "-T", "influxdb", "influxd", "restore", "-portable", "/dumps/influxdb", timeout=300)
