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

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEVICE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
SERVER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*/[A-Za-z0-9_.\-]+$")
RESOURCE_TCP = re.compile(r"^TCPIP\d*::(?P<host>[^:]+)::(?P<port>\d+)::SOCKET$", re.IGNORECASE)

Port = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddedDatabase(Strict):
    host: str = "127.0.0.1"
    port: Port = 10000


class DatabaseConfig(Strict):
    embedded: EmbeddedDatabase | None = None
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


class TangoConfig(Strict):
    database: DatabaseConfig = DatabaseConfig(embedded=EmbeddedDatabase())


class EmulatorConfig(Strict):
    control_port: Port | None = None  # default: instrument port + 1


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


PropertyValue = bool | int | float | str | list[str] | list[float] | list[int]


class DeviceConfig(Strict):
    name: str
    class_: str = Field(alias="class")
    instrument: str | None = None
    properties: dict[str, PropertyValue] = {}
    attributes: dict[str, AttributeConfig] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not DEVICE_NAME.match(value):
            raise ValueError(f"{value!r} is not a Tango device name domain/family/member")
        return value.lower()


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
    name: str
    class_: str | None = Field(default=None, alias="class")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not DEVICE_NAME.match(value):
            raise ValueError(f"{value!r} is not a Tango device name domain/family/member")
        return value.lower()


class Station(Strict):
    station: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    description: str = ""
    data_dir: str = "var/{station}"
    tango: TangoConfig = TangoConfig()
    instruments: dict[str, Instrument] = {}
    servers: list[ServerConfig] = []
    external_devices: list[ExternalDevice] = []
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
        return self.station.station

    @property
    def data_dir(self) -> Path:
        raw = Path(self.station.data_dir.format(station=self.station.station)).expanduser()
        return (raw if raw.is_absolute() else self.path.parent / raw).resolve()

    @property
    def tango_host(self) -> str:
        return self.station.tango.database.tango_host

    def device_properties(self, device: DeviceConfig) -> dict[str, PropertyValue]:
        """Properties as written to the Tango database: instrument fields first."""
        properties: dict[str, PropertyValue] = {}
        if device.instrument is not None:
            instrument = self.station.instruments[device.instrument]
            properties.update(model=instrument.model, resource=instrument.resource, timeout=instrument.timeout)
        properties.update(device.properties)
        return properties
