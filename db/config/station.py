"""The station file: one YAML document that describes a whole test station.

Shape (see README "Station file reference"):

    station: demo                       # Tango domain of the station's devices
    data_dir: var/demo                  # relative to the file
    tango:
      database: {embedded: {port: 10000}}   # or {external: "host:10000"}
    instruments:
      hv-smu: {model: keithley2410, resource: "TCPIP::127.0.0.1::15027::SOCKET", emulated: true}
    servers:
      - name: PowerSupply/demo-hv       # Tango server executable/instance
        devices:
          - name: demo/hv/module1
            class: PowerSupplyChannel
            instrument: hv-smu
            properties: {voltage_max: 600}
            attributes:
              voltage: {abs_change: 0.5, archive_period: 10000}
    external_devices:
      - {name: other/group/dev, class: TangoTest}
"""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from devices.models import serial_models
from devices.safety.module import Module
from devices.tango_names import DeviceName

SERVER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*/[A-Za-z0-9_.\-]+$")
RESOURCE_TCP = re.compile(r"^TCPIP\d*::(?P<host>[^:]+)::(?P<port>\d+)::SOCKET$", re.IGNORECASE)
IPBUS_URI = re.compile(r"^(chtcp-2\.0|ipbusudp-2\.0|ipbustcp-2\.0)://[A-Za-z0-9_.\-]+(:\d+)?(\?target=[A-Za-z0-9_.\-]+:\d+)?$")

Port = Annotated[int, Field(ge=1, le=65535)]
SERIAL_MODELS = serial_models()  # instruments on a serial line (pyserial port or URL), not a VISA resource


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddedDatabaseConfig(Strict):
    host: str = "127.0.0.1"
    port: Port = 10000


class DatabaseConfig(Strict):
    embedded: EmbeddedDatabaseConfig | None = None
    external: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]+:\d{1,5}$")

    @model_validator(mode="after")
    def _one_of(self) -> DatabaseConfig:
        if (self.embedded is None) == (self.external is None):
            raise ValueError("set exactly one of 'embedded' or 'external'")
        return self

    @property
    def tango_host(self) -> str:
        if self.embedded is not None:
            return f"{self.embedded.host}:{self.embedded.port}"
        return self.external


class StarterConfig(Strict):
    """Device servers left to Tango Starter (the supervisor behind Astor) instead of the launcher."""

    host: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
                             description="the Starter's host (its instance name); default: this host's short name")
    path: str | None = Field(default=None, description="StartDsPath: where the server executables are; "
                                                        "default: the folder of this Python (the venv's bin)")
    log_home: str | None = Field(default=None, description="Starter's LogFileHome (default: data_dir/log/starter)")

    @property
    def host_name(self) -> str:
        return self.host or socket.gethostname().split(".")[0]

    @property
    def device(self) -> str:
        return f"tango/admin/{self.host_name}"


class TangoConfig(Strict):
    database: DatabaseConfig = DatabaseConfig(embedded=EmbeddedDatabaseConfig())
    starter: StarterConfig | None = None  # set: `up` leaves the device servers to Starter


class EmulatorConfig(Strict):
    control_port: Port | None = None  # default: instrument port + 1
    speed: float = Field(default=0.05, gt=0, le=10, description="emulated programs (Ph2_ACF): real durations x speed")
    group: str | None = None  # emulated instruments of one group run in one process and share a cold box


class Instrument(Strict):
    model: str
    resource: str
    emulated: bool = False
    emulator: EmulatorConfig = EmulatorConfig()
    timeout: float = Field(default=2.0, gt=0, le=60)

    @property
    def tcp_address(self) -> tuple[str, int] | None:
        match = RESOURCE_TCP.match(self.resource)
        return (match["host"], int(match["port"])) if match else None

    @property
    def control_port(self) -> int | None:
        if self.emulator.control_port is not None:
            return self.emulator.control_port
        address = self.tcp_address
        return address[1] + 1 if address else None


class AttributeConfig(Strict):
    """Tango attribute properties, written to the database by ``config apply``."""

    label: str | None = None
    description: str | None = None
    unit: str | None = None
    format: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    min_warning: float | None = None
    max_warning: float | None = None
    min_alarm: float | None = None
    max_alarm: float | None = None
    abs_change: float | None = Field(default=None, gt=0)
    rel_change: float | None = Field(default=None, gt=0)
    event_period: int | None = Field(default=None, gt=0, description="periodic event period, ms")
    archive_abs_change: float | None = Field(default=None, gt=0)
    archive_rel_change: float | None = Field(default=None, gt=0)
    archive_period: int | None = Field(default=None, gt=0, description="archive event period, ms")
    polling_period: int | None = Field(default=None, ge=0, description="Tango polling period, ms (0 = none)")
    archive: bool = False  # the bridge archives this attribute's archive events
    publish: bool = False  # the bridge publishes this attribute's change events on MQTT


class MqttPermissions(Strict):
    """What MQTT clients may drive on one device (an allow-list; nothing else is reachable)."""

    write: list[str] = []
    commands: list[str] = []
    limits: dict[str, tuple[float, float]] = {}  # attribute -> (min, max) accepted over MQTT

    @model_validator(mode="after")
    def _limits(self) -> MqttPermissions:
        for name, (low, high) in self.limits.items():
            if name not in self.write:
                raise ValueError(f"limits for {name!r}, which is not in 'write'")
            if low > high:
                raise ValueError(f"limits of {name!r}: {low} is above {high}")
        return self


PropertyValue = bool | int | float | str | list[str] | list[float] | list[int]


class DeviceConfig(Strict):
    name: DeviceName
    class_: str = Field(alias="class")
    instrument: str | None = None
    properties: dict[str, PropertyValue] = {}
    attributes: dict[str, AttributeConfig] = {}
    mqtt: MqttPermissions = MqttPermissions()


class ServerConfig(Strict):
    name: str
    port: Port | None = None  # CORBA port; default: chosen free at start
    devices: list[DeviceConfig] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SERVER_NAME.match(value):
            raise ValueError(f"{value!r} is not a Tango server name Executable/instance")
        return value


class ExternalDevice(Strict):
    """A device served by another program (any Tango class, C++ included). With ``server``,
    ``config apply`` registers it in the station's database (the program is still run by someone else)."""

    name: DeviceName
    class_: str | None = Field(default=None, alias="class")
    server: str | None = None  # Executable/instance of the program that serves it, to register it
    attributes: dict[str, AttributeConfig] = {}
    mqtt: MqttPermissions = MqttPermissions()

    @field_validator("server")
    @classmethod
    def _server(cls, value: str | None) -> str | None:
        if value is not None and not SERVER_NAME.match(value):
            raise ValueError(f"{value!r} is not a Tango server name Executable/instance")
        return value

    @model_validator(mode="after")
    def _class_to_register(self) -> ExternalDevice:
        if self.server is not None and not self.class_:
            raise ValueError("registering an external device (server) needs its class")
        return self


class ArchiveConfig(Strict):
    """Where the bridge archives: the embedded store, InfluxDB 1.x (/write) or 2.x/3.x (influxdb-client)."""

    backend: Literal["embedded", "influxdb1", "influxdb2"] = "embedded"
    url: str | None = Field(default=None, pattern=r"^https?://")
    database: str = "dcs"  # InfluxDB 1.x database; also the InfluxQL database (DBRP) for reads on 2.x/3.x
    org: str | None = None  # InfluxDB 2.x
    bucket: str | None = None  # InfluxDB 2.x
    token_file: str | None = None  # InfluxDB 2.x token, or 1.x "user:password"; never in the station file
    batch_size: int = Field(default=5000, ge=1, le=100000)
    flush_interval: float = Field(default=0.2, gt=0, le=60, description="s")
    timeout: float = Field(default=5.0, gt=0, le=120, description="s")

    @model_validator(mode="after")
    def _needs(self) -> ArchiveConfig:
        if self.backend != "embedded" and not self.url:
            raise ValueError(f"the {self.backend} archive needs a url")
        if self.backend == "influxdb2" and not (self.org and self.bucket):
            raise ValueError("the influxdb2 archive needs org and bucket")
        return self


class MqttTls(Strict):
    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None


class EmbeddedBroker(Strict):
    host: str = "127.0.0.1"
    port: Port = 1883


class MqttConfig(Strict):
    """The broker the bridge publishes to; with neither host nor embedded set, `up` runs an embedded one."""

    host: str | None = None
    port: Port = 1883
    embedded: EmbeddedBroker | None = None
    username: str | None = None
    password_file: str | None = None
    tls: MqttTls | None = None
    qos: Literal[0, 1] = 0
    topic_prefix: str = Field(default="dcs", pattern=r"^[A-Za-z0-9_\-]+$")
    max_payload: int = Field(default=4096, ge=64, le=1_000_000)
    client_id: str | None = None

    @property
    def broker(self) -> tuple[str, int]:
        if self.host is not None:
            return self.host, self.port
        embedded = self.embedded or EmbeddedBroker()
        return embedded.host, embedded.port

    @property
    def runs_embedded(self) -> bool:
        return self.host is None


class BridgeConfig(Strict):
    enabled: bool = True
    archive: ArchiveConfig = ArchiveConfig()
    mqtt: MqttConfig = MqttConfig()
    archive_events: Literal["archive", "change"] = "archive"  # which Tango event feeds the archive
    queue_size: int = Field(default=1_000_000, ge=1000)


class SafetyConfig(Strict):
    """Interlock rules (see devices/safety/rules.py and the README); checked by config check."""

    device: DeviceName  # the SafetyInterlock device (listed under servers)
    grace_period: float = Field(default=15.0, ge=0, le=3600)
    rules: list[dict] = []
    permits: list[dict] = []


class EmbeddedRunStore(Strict):
    host: str = "127.0.0.1"
    port: Port = 27017


class RunStoreConfig(Strict):
    """Where calibration runs are stored: the embedded secantusdb (run by `up`) or any MongoDB by URI."""

    embedded: EmbeddedRunStore | None = None
    uri: str | None = Field(default=None, pattern=r"^mongodb(\+srv)?://[^\s:@/]+(@|:|/|$)")
    password_file: str | None = None  # the password of the URI's user; never in the station file
    database: str = Field(default="dcs", pattern=r"^[A-Za-z0-9_\-]{1,63}$")

    @model_validator(mode="after")
    def _one_of(self) -> RunStoreConfig:
        if self.embedded is not None and self.uri is not None:
            raise ValueError("set one of 'embedded' or 'uri', not both")
        if self.uri is not None and "@" in self.uri.split("//", 1)[1].split("/", 1)[0] \
                and ":" in self.uri.split("//", 1)[1].split("@", 1)[0]:
            raise ValueError("the run store URI holds a password: put it in password_file")
        return self

    @property
    def client_uri(self) -> str:
        if self.uri is not None:
            return self.uri
        embedded = self.embedded or EmbeddedRunStore()
        return f"mongodb://{embedded.host}:{embedded.port}"

    @property
    def runs_embedded(self) -> bool:
        return self.uri is None


class GradingConfig(Strict):
    """Pass/fail of a module's calibration: every chip's mean noise in [noise_min, noise_max], few dead channels."""

    noise_min: float = Field(default=0.0, ge=0)
    noise_max: float = Field(default=8.0, gt=0, le=1000)
    max_dead: int = Field(default=5, ge=0)


SILENT_POLLS, SILENT_MIN_S = 6, 3.0  # an input device without a heartbeat for this long: its inputs are stale


class RunsConfig(Strict):
    store: RunStoreConfig = RunStoreConfig()
    grading: GradingConfig = GradingConfig()


class Station(Strict):
    name: str = Field(alias="station", pattern=r"^[a-z0-9][a-z0-9_\-]*$")  # the key is `station:`; also the Tango domain
    description: str = ""
    data_dir: str = "var/{station}"
    tango: TangoConfig = TangoConfig()
    instruments: dict[str, Instrument] = {}
    servers: list[ServerConfig] = []
    external_devices: list[ExternalDevice] = []
    bridge: BridgeConfig = BridgeConfig()
    safety: SafetyConfig | None = None
    modules: list[Module] = []
    runs: RunsConfig = RunsConfig()
    sequences: dict[str, list[dict]] = {}  # burn-in step lists (devices/daq/burnin.py), by name
    version: Literal[1] = 1

    def devices(self) -> list[tuple[ServerConfig, DeviceConfig]]:
        return [(server, device) for server in self.servers for device in server.devices]


class LoadedStation:
    """A validated station together with where it came from."""

    def __init__(self, station: Station, path: Path):
        self.station = station
        self.path = path.resolve()

    @property
    def name(self) -> str:
        return self.station.name

    @property
    def data_dir(self) -> Path:
        raw = Path(self.station.data_dir.format(station=self.station.name)).expanduser()
        return (raw if raw.is_absolute() else self.path.parent / raw).resolve()

    @property
    def tango_host(self) -> str:
        return self.station.tango.database.tango_host

    def serial_port(self, instrument: Instrument) -> str | None:
        """A serial instrument's port: a relative path is taken inside the data directory
        (where the emulator of an emulated one makes its pseudo-terminal link)."""
        resource = instrument.resource
        if instrument.model not in SERIAL_MODELS or "://" in resource or resource.startswith("/"):
            return None
        return str(self.data_dir / resource)

    def resolve(self, path: str | None) -> Path | None:
        """A path of the station file (secret files, TLS files), relative to the file."""
        if path is None:
            return None
        raw = Path(path).expanduser()
        return raw if raw.is_absolute() else (self.path.parent / raw).resolve()

    def device_properties(self, device: DeviceConfig) -> dict[str, PropertyValue]:
        """Properties as written to the Tango database: instrument fields first."""
        properties: dict[str, PropertyValue] = {}
        if device.instrument is not None:
            instrument = self.station.instruments[device.instrument]
            properties.update(model=instrument.model, resource=self.serial_port(instrument) or instrument.resource,
                              timeout=instrument.timeout)
        safety = self.station.safety
        if safety is not None:
            if device.name == safety.device:
                properties.update(
                    rules=json.dumps({"rules": safety.rules, "permits": safety.permits}, sort_keys=True),
                    modules=json.dumps([m.model_dump(mode="json") for m in self.station.modules], sort_keys=True),
                    grace_period=safety.grace_period,
                    trip_log=str(self.data_dir / "log" / "alarms.jsonl"),
                    heartbeats=json.dumps(self.heartbeat_bounds(), sort_keys=True),
                )
            elif any(str(p.get("device", "")).lower() == device.name for p in safety.permits):
                properties["interlock"] = safety.device
        if device.class_ == "Ph2AcfRunner":
            properties.pop("timeout", None)
            properties.update(self._runner_properties(device))
        elif device.class_ == "BurnInSequencer":
            store = self._run_store_properties()
            properties.update({k: store[k] for k in ("run_store", "run_store_database", "run_store_password_file")},
                              state_file=str(self.data_dir / "burnin" / f"{device.name.replace('/', '_')}.json"))
        elif device.class_ == "IvScanner":
            properties.update(self._run_store_properties(), csv_dir=str(self.data_dir / "iv"), location=self.station.name)
        properties.update(device.properties)
        if device.class_ == "BurnInSequencer":  # the names in the station file become whole definitions
            module = next((m for m in self.station.modules if m.name == properties.get("module")), None)
            if module is not None:
                properties["module"] = module.model_dump_json()
            steps = self.station.sequences.get(str(properties.pop("sequence", "")))
            if steps is not None:
                properties["steps"] = json.dumps(steps)
        return properties

    def heartbeat_bounds(self) -> dict[str, float]:
        """The interlock's input devices that beat (a ``heartbeat`` attribute), each with the
        seconds of silence after which its inputs count as stale: SILENT_POLLS polling periods,
        at least SILENT_MIN_S (a loaded machine must not trip a healthy station)."""
        from db.config.classes import known_classes
        from devices.safety.rules import parse_rules

        safety = self.station.safety
        if safety is None:
            return {}
        rules, permits = parse_rules({"rules": safety.rules, "permits": safety.permits}, safety.device)
        conditions = [r.condition for r in rules] + [c for p in permits for c in p.requires]
        inputs = {name if kind == "state" else name.rsplit("/", 1)[0]
                  for condition in conditions for kind, name in condition.inputs()}
        classes = known_classes()
        bounds = {}
        for _, device in self.station.devices():
            info = classes.get(device.class_)
            if device.name not in inputs or info is None or "heartbeat" not in info.attributes:
                continue
            default = info.properties["poll_period"].default if "poll_period" in info.properties else 1.0
            period = float(device.properties.get("poll_period", default))
            bounds[device.name] = round(max(SILENT_POLLS * period, SILENT_MIN_S), 3)
        return bounds

    def ph2acf_dir(self, instrument_name: str) -> Path:
        """An emulated FC7's Ph2_ACF base directory (RunNumbers.dat, settings/, Results/)."""
        return self.data_dir / "ph2acf" / instrument_name

    def archived_attributes(self) -> list[str]:
        station = self.station
        found = [f"{d.name}/{a}" for _, d in station.devices() for a, c in d.attributes.items() if c.archive]
        found += [f"{d.name}/{a}" for d in station.external_devices for a, c in d.attributes.items() if c.archive]
        return found

    def _run_store_properties(self) -> dict[str, PropertyValue]:
        """What every run device (Ph2AcfRunner, IvScanner) needs: the store, the snapshot, the interlock."""
        store = self.station.runs.store
        properties: dict[str, PropertyValue] = {
            "run_store": store.client_uri, "run_store_database": store.database,
            "run_store_password_file": str(self.resolve(store.password_file) or ""),
            "snapshot_attributes": self.archived_attributes(),
        }
        if self.station.safety is not None:
            properties["interlock"] = self.station.safety.device
        return properties

    def _runner_properties(self, device: DeviceConfig) -> dict[str, PropertyValue]:
        grading = self.station.runs.grading
        properties = {**self._run_store_properties(), "noise_min": grading.noise_min,
                      "noise_max": grading.noise_max, "max_dead": grading.max_dead}
        instrument = self.station.instruments.get(device.instrument or "")
        if instrument is not None and instrument.emulated:
            base = self.ph2acf_dir(device.instrument)
            emulator = [sys.executable, "-m", "devices.sim.ph2acf"]
            properties.update(base_dir=str(base), hardware_xml=str(base / "settings" / f"{device.instrument}.xml"),
                              executable=[*emulator, "runCalibration"], fpgaconfig=[*emulator, "fpgaconfig"])
        return properties
