"""`trackerdcs stack init`: the secrets and generated files docker/compose.yaml mounts.

    <dir>/secrets/    one file per secret, mode 0600, made once and never overwritten
                      (rotating one: delete its file, run init again, recreate its services)
    <dir>/generated/  derived from the station file and the secrets, written again each run:
                      mosquitto/mosquitto.conf, acl and passwd, tls/ca.crt, tls/mqtt.crt, tls/gateway.crt,
                      nodered/admin.bcrypt, grafana/ (trackerdcs grafana export)
    <dir>/generated/nodered/data/
                      Node-RED's user folder (/data): the flows (trackerdcs nodered export: TLS to the broker, its account
                      in flows_cred.json): the generated ones written again each run, the lab's own
                      (deployed from the editor into the same folder) kept

Both folders are in .gitignore. Nothing here puts a secret on a command line or in an
environment variable.
"""

from __future__ import annotations

import os
import secrets as random_secrets
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

from db.config.station import LoadedStation
from db.deploy import grafana_export, mosquitto_conf, mosquitto_passwd, mqtt_acl, nodered, pki

# secret name -> how it is made ("token": 32 random bytes, url-safe; a plain value: that value)
SECRETS: dict[str, str] = {
    "tangodb_root_pw": "token", "tangodb_tango_pw": "token",
    "influx_admin_user": "admin", "influx_admin_pw": "token", "influx_operator_token": "token",
    # InfluxDB 2 makes its tokens' values itself; these are v1-compatible credentials the init script
    # creates with our values: "user:password" for the bridge (basic auth on /write and /query), a
    # password for Grafana's user "grafana" (read only)
    "influx_bridge_auth": "bridge:token", "influx_grafana_pw": "token",
    "mongo_root_user": "root", "mongo_root_pw": "token",
    "grafana_admin_pw": "token", "grafana_secret_key": "token",
    "nodered_credential_secret": "token", "nodered_admin_pw": "token",
    **{f"mqtt_{account}_pw": "token" for account in mqtt_acl.ACCOUNTS},
}
# files read by a service that runs as its own user in its container: owned by that uid (when init
# runs as root), mode 0600; mosquitto refuses a password file it cannot open ("Unable to open pwfile")
OWNERS: dict[str, int] = {
    "generated/mosquitto/passwd": 1883, "generated/mosquitto/acl": 1883, "generated/mosquitto/mosquitto.conf": 1883,
    "secrets/tls_mqtt.key": 1883,
    "secrets/nodered_credential_secret": 1000, "generated/nodered/admin.bcrypt": 1000,
    "secrets/mqtt_nodered_pw": 1000, "generated/nodered/data": 1000,
    "generated/nodered/data/flows.json": 1000, "generated/nodered/data/flows_cred.json": 1000,
    "secrets/grafana_admin_pw": 472, "secrets/grafana_secret_key": 472,
    # the project image's user (docker/Dockerfile): the bridge's and the run store's credentials
    "secrets/mqtt_bridge_pw": 10001, "secrets/influx_bridge_auth": 10001,
    "secrets/mongo_root_user": 10001, "secrets/mongo_root_pw": 10001,
    "secrets/tangodb_tango_pw": 1000,  # the DataBaseds image's user "tango"
}
# the names the broker and the gateway answer to, beside the ones given to init
GRAFANA_DASHBOARDS = "/etc/grafana/dashboards"  # where compose.yaml mounts generated/grafana/dashboards
NODERED_CA = "${MQTT_CA_FILE}"  # compose.yaml sets it to where it mounts generated/tls/ca.crt
SERVICE_NAMES = {"mqtt": ["mosquitto", "localhost", "127.0.0.1"], "gateway": ["gateway", "localhost", "127.0.0.1"]}


@dataclass
class Written:
    made: list[Path] = field(default_factory=list)  # new secrets
    kept: list[Path] = field(default_factory=list)  # secrets there already
    generated: list[Path] = field(default_factory=list)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o644)


def read_secret(folder: Path, name: str) -> str:
    path = folder / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise FileNotFoundError(f"secret {name} is missing: {path} (run `trackerdcs stack init`)") from None


def init(station: LoadedStation, out: Path, names: list[str] | None = None) -> Written:
    """Make what is missing in ``out``/secrets and write ``out``/generated again."""
    written = Written()
    secret_dir, gen = out / "secrets", out / "generated"
    for name, how in SECRETS.items():
        path = secret_dir / name
        if path.exists():
            written.kept.append(path)
            continue
        value = how.replace("token", random_secrets.token_urlsafe(32)) if how.endswith("token") else how
        _write_private(path, value.encode() + b"\n")
        written.made.append(path)
    secret = lambda name: read_secret(secret_dir, name)  # noqa: E731

    # TLS: one lab CA; server certificates made again when the names they must cover change
    ca_cert, ca_key = gen / "tls" / "ca.crt", secret_dir / "tls_ca.key"
    if not (ca_cert.exists() and ca_key.exists()):
        cert, key = pki.make_ca()
        _write_private(ca_key, key)
        _write_public(ca_cert, cert)
        written.made.append(ca_key)
    for service, defaults in SERVICE_NAMES.items():
        wanted = list(dict.fromkeys([*defaults, *(names or [])]))
        cert_path, key_path = gen / "tls" / f"{service}.crt", secret_dir / f"tls_{service}.key"
        if cert_path.exists() and key_path.exists() and set(pki.names_of(cert_path)) >= set(wanted):
            continue
        cert, key = pki.make_server_cert(ca_cert.read_bytes(), ca_key.read_bytes(), wanted)
        _write_private(key_path, key)
        _write_public(cert_path, cert)
        written.generated.append(cert_path)

    users = {account: secret(f"mqtt_{account}_pw") for account in mqtt_acl.ACCOUNTS}
    bridge_user = station.station.bridge.mqtt.username or mqtt_acl.BRIDGE
    users = {bridge_user if a == mqtt_acl.BRIDGE else a: pw for a, pw in users.items()}
    files = {
        gen / "mosquitto" / "mosquitto.conf": mosquitto_conf.render().encode(),
        gen / "mosquitto" / "acl": mqtt_acl.render(station).encode(),
        gen / "mosquitto" / "passwd": mosquitto_passwd.render(users).encode(),
        gen / "nodered" / "admin.bcrypt": bcrypt.hashpw(secret("nodered_admin_pw").encode(), bcrypt.gensalt()) + b"\n",
    }
    for path, data in files.items():
        _write_private(path, data)
        written.generated.append(path)
    # Grafana's provisioning, exported from the station file (compose.yaml mounts both folders)
    written.generated += grafana_export.export(station, gen / "grafana", "influxdb2", "http://influxdb:8086", "grafana",
                                               "/run/secrets/influx_grafana_pw", GRAFANA_DASHBOARDS)
    flows, _, _ = nodered.export(station, gen / "nodered" / "data", NODERED_CA, secret("nodered_credential_secret"))
    written.generated += [flows, flows.with_name("flows_cred.json")]
    _own(out)
    return written


def _own(out: Path) -> None:
    if os.geteuid() != 0:
        return  # a user's own files; the README says to run init as root on the stack's host
    for relative, uid in OWNERS.items():
        path = out / relative
        if path.exists():
            os.chown(path, uid, uid)
