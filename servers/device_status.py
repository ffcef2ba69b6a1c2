"""Every device's state, status and key values, read over Tango at the moment they are asked for.

Two readers share this: the CLI, with a proxy of its own per device, and the launcher, which
answers ``trackerdcs status`` on its status socket (servers/status_socket.py) with the proxies it
made while waiting for every device at start-up. A proxy costs a database import and a
connection: at 321 devices that is most of the CLI's 3 s, while the reads themselves take 0.2 s.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import tango

from db.config.station import LoadedStation
from db.runtime.proxies import Proxies
from devices.catalog import KEY_ATTRIBUTES

STATUS_WORKERS = 16  # devices asked at once: a dead device costs its own timeout, not everybody's


@dataclass
class DeviceStatus:
    name: str
    device_class: str
    state: str
    status: str
    attributes: dict = field(default_factory=dict)
    external: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DeviceStatus:
        return cls(str(data["name"]), str(data["device_class"]), str(data["state"]), str(data["status"]),
                   dict(data.get("attributes") or {}), bool(data.get("external")))


def entries(station: LoadedStation) -> list[tuple[str, str, bool]]:
    """(device, class, external) of every device of the station file, in its order."""
    rows = [(d.name, d.class_, False) for _, d in station.station.devices()]
    return rows + [(d.name, d.class_ or "", True) for d in station.station.external_devices]


def _one(proxies: Proxies, name: str, cls: str, external: bool) -> DeviceStatus:
    try:
        proxy = proxies(name)
        keys = list(KEY_ATTRIBUTES.get(cls, ()))
        replies = proxy.read_attributes(["State", "Status", *keys])  # one call per device
        state, status = (str(r.value) if not r.has_failed else "UNKNOWN" for r in replies[:2])
        values = {reply.name: None if reply.has_failed else _plain(reply.value) for reply in replies[2:]}
        return DeviceStatus(name, cls or proxy.info().dev_class, state, status, values, external)
    except tango.DevFailed as exc:
        return DeviceStatus(name, cls, "UNREACHABLE", exc.args[0].desc.strip(), {}, external)


def read(proxies: Proxies, rows: list[tuple[str, str, bool]]) -> list[DeviceStatus]:
    """Every row's device asked in parallel; the answers in the rows' order."""
    with ThreadPoolExecutor(max_workers=STATUS_WORKERS, thread_name_prefix="status") as pool:
        return list(pool.map(lambda row: _one(proxies, *row), rows))


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    return value
