"""The stack's compose files, checked without an engine: each file against the compose-spec schema
(the copy check-jsonschema ships), then what the schema cannot see: every reference resolves
(services, secrets, configs, networks, volumes, files), every long-running service has a
healthcheck and a restart policy, no secret is in an environment variable, the data services
publish on loopback only, and the station files the stack runs pass `config check`."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from db.config.validation import load_station
from db.deploy.stack_files import SECRETS

pytestmark = pytest.mark.unit

DOCKER = Path(__file__).resolve().parent.parent / "docker"
FILES = ["compose.yaml", "compose.dev.yaml", "compose.sim.yaml", "compose.instrument-pc.yaml",
         "test/compose.test.yaml", "test/compose.instrument-pc.test.yaml"]
ONE_SHOT = {"tango-config"}
LOOPBACK_ONLY = {"tango-db", "influxdb", "mongodb", "grafana", "nodered"}
GENERATED = {"generated/tls/ca.crt", "generated/tls/mqtt.crt", "generated/tls/gateway.crt",
             "generated/mosquitto/mosquitto.conf", "generated/mosquitto/passwd", "generated/mosquitto/acl",
             "generated/nodered/admin.bcrypt", "generated/nodered/data", "generated/grafana/provisioning",
             "generated/grafana/dashboards"}  # what `trackerdcs stack init` writes
MADE_SECRETS = set(SECRETS) | {"tls_ca.key", "tls_mqtt.key", "tls_gateway.key"}


class _ComposeLoader(yaml.SafeLoader):
    """YAML as compose reads it: `!override` and `!reset` (merge control in overlays) hold plain values."""


for _tag in ("!override", "!reset"):
    _ComposeLoader.add_constructor(_tag, lambda loader, node: loader.construct_mapping(node, deep=True)
                                   if isinstance(node, yaml.MappingNode) else loader.construct_sequence(node, deep=True)
                                   if isinstance(node, yaml.SequenceNode) else loader.construct_scalar(node))


def _load(name: str) -> dict:
    return yaml.load((DOCKER / name).read_text(), Loader=_ComposeLoader)


def _merged() -> dict:
    """compose.yaml with the sim overlay merged in (mappings merge, lists append), as compose does."""
    def merge(base, over):
        if isinstance(base, dict) and isinstance(over, dict):
            return {k: merge(base[k], v) if k in base else v for k, v in {**base, **over}.items()} | \
                   {k: v for k, v in base.items() if k not in over}
        if isinstance(base, list) and isinstance(over, list):
            return base + over
        return over
    return merge(_load("compose.yaml"), _load("compose.sim.yaml"))


@pytest.mark.parametrize("name", FILES)
def test_each_file_follows_the_compose_spec(name):
    schema = json.loads(resources.files("check_jsonschema").joinpath("builtin_schemas/vendor/compose-spec.json")
                        .read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(_load(name)), key=lambda e: e.path)
    assert not errors, "\n".join(f"{name}: {'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_typo():
    schema = json.loads(resources.files("check_jsonschema").joinpath("builtin_schemas/vendor/compose-spec.json")
                        .read_text())
    broken = {"services": {"a": {"image": "x", "enviroment": {}}}}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def test_every_reference_resolves_and_every_file_exists():
    stack = _merged()
    services = stack["services"]
    problems = []
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            if needed not in services:
                problems.append(f"{name} depends on unknown service {needed}")
        for secret in service.get("secrets", []):
            if secret not in stack["secrets"]:
                problems.append(f"{name} uses undeclared secret {secret}")
        for config in service.get("configs", []):
            if config["source"] not in stack["configs"]:
                problems.append(f"{name} uses undeclared config {config['source']}")
        if "network_mode" in service and ("networks" in service or "ports" in service):
            problems.append(f"{name}: network_mode host with networks or ports (ignored)")
        for network in service.get("networks", []):
            if network not in stack["networks"]:
                problems.append(f"{name} is on undeclared network {network}")
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                relative = source[2:] if source.startswith("./") else None
                if relative is not None and relative not in GENERATED and not (DOCKER / relative).exists():
                    problems.append(f"{name} mounts {source}, which is neither in the repository nor made by stack init")
            elif not source.startswith("$") and source not in stack["volumes"]:
                problems.append(f"{name} mounts undeclared volume {source}")
    for name, secret in stack["secrets"].items():
        relative = secret["file"].removeprefix("./")
        if relative.startswith("secrets/") and relative.removeprefix("secrets/") not in MADE_SECRETS:
            problems.append(f"secret {name}: {relative} is not made by stack init")
        if relative.startswith("generated/") and relative not in GENERATED:
            problems.append(f"secret {name}: {relative} is not written by stack init")
    for name, config in stack["configs"].items():
        file = config["file"]
        match = re.fullmatch(r"\$\{[A-Z_]+:-(.+)\}", file)
        relative = (match.group(1) if match else file).removeprefix("./")
        if relative not in GENERATED and not (DOCKER / relative).exists():
            problems.append(f"config {name}: {relative} does not exist")
    assert not problems, "\n".join(problems)


def test_services_are_healthchecked_restarted_and_keep_secrets_out_of_the_environment():
    stack = _merged()
    problems = []
    for name, service in stack["services"].items():
        if name not in ONE_SHOT:
            if "healthcheck" not in service:
                problems.append(f"{name} has no healthcheck")
            if service.get("restart") not in ("unless-stopped", "always"):
                problems.append(f"{name} has restart {service.get('restart')!r}")
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"(PASSWORD|TOKEN|SECRET)(?!_FILE|__FILE)", key) and not str(value).startswith("/run/secrets/"):
                problems.append(f"{name}: {key} in its environment")
        if name in LOOPBACK_ONLY:
            for port in service.get("ports", []):
                if not str(port).startswith("127.0.0.1:"):
                    problems.append(f"{name} publishes {port} beyond loopback")
    for name, service in _load("compose.yaml")["services"].items():
        if name in ("grafana", "nodered") and service.get("ports"):
            problems.append(f"{name} is published in production: it is reached through the gateway only")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["station.yaml", "station.sim.yaml"])
def test_the_stacks_station_files_pass_config_check_and_name_every_server_container(name):
    station = load_station(DOCKER / name)
    stack = _merged()
    commands = [s.get("command") for s in stack["services"].values()]
    served = {c[1] for c in commands if isinstance(c, list) and c[:1] == ["serve"]}
    for server in station.station.servers:
        assert server.port is not None, f"{name}: {server.name} needs a fixed port in the stack"
        if server.name != "Ph2Acf/demo-daq":  # runs on the DAQ PC, where Ph2_ACF is installed
            assert server.name in served, f"no container serves {server.name}"
    assert served <= {s.name for s in station.station.servers}
