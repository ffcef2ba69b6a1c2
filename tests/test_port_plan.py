"""Ports of a large station (80 device servers, each HV channel on its own emulated Keithley):
the station file may not pin one port twice (a server's ZMQ ports, its port + 1 and + 2,
included), and the ports the launcher picks are never given twice, never the station's own."""

from __future__ import annotations

import copy

import pytest
import yaml

from db.config.validation import StationFileError, load_station
from db.runtime import process
from servers.launcher import station_ports
from servers.serve import ZMQ_EVENT_OFFSET, ZMQ_HEARTBEAT_OFFSET

from testkit import ROOT

pytestmark = pytest.mark.unit
SERVERS = 80


def _large(tmp_path, pin=None):
    raw = yaml.safe_load((ROOT / "stations" / "demo.yaml").read_text())
    raw["data_dir"] = str(tmp_path / "data")
    hv = next(s for s in raw["servers"] if s["name"] == "PowerSupply/demo-hv")
    raw["servers"] = [s for s in raw["servers"] if s["name"] == "PowerSupply/demo-lv"]
    raw.pop("safety", None)
    raw.pop("sequences", None)
    raw["modules"] = []
    raw["instruments"] = {"lv-hmp4040": raw["instruments"]["lv-hmp4040"]}
    for i in range(SERVERS - 1):
        raw["instruments"][f"hv-m{i:03d}"] = {"model": "keithley2410", "emulated": True,
                                             "resource": f"TCPIP::127.0.0.1::{16000 + 2 * i}::SOCKET"}
        server = copy.deepcopy(hv)
        server["name"] = f"PowerSupply/hv-m{i:03d}"
        device = server["devices"][0]
        device.update(name=f"demo/hv/m{i:03d}", instrument=f"hv-m{i:03d}")
        raw["servers"].append(server)
    if pin:
        pin(raw)
    path = tmp_path / "large.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_a_server_pinned_on_another_servers_zmq_port_is_refused(tmp_path):
    def pin(raw):
        raw["servers"][1]["port"] = 30000
        raw["servers"][2]["port"] = 30002  # server 1's ZMQ heartbeat port
    with pytest.raises(StationFileError) as info:
        load_station(_large(tmp_path, pin))
    assert "port 30002 (device server) is already used at servers[1].port (that server's ZMQ heartbeat port)" \
        in str(info.value)


def test_the_launchers_ports_for_80_servers_are_all_different_and_none_is_the_stations(tmp_path):
    def pin(raw):
        for i, server in enumerate(raw["servers"][:10]):
            server["port"] = 21000 + 3 * i
    loaded = load_station(_large(tmp_path, pin))
    assert len(loaded.station.servers) == SERVERS
    pinned = station_ports(loaded)
    assert {21000 + 3 * i + o for i in range(10) for o in (0, ZMQ_EVENT_OFFSET, ZMQ_HEARTBEAT_OFFSET)} <= pinned
    assert {16000 + 2 * i for i in range(SERVERS - 1)} | {loaded.station.tango.database.embedded.port} <= pinned
    # the servers without a port: an ORB port each, chosen one after the other before any binds it
    picked = [process.free_port(avoid=pinned) for _ in range(3 * SERVERS)]
    assert len(set(picked)) == len(picked), "a port was given twice"
    assert not set(picked) & pinned, "a port the station file pins was given to a server"


def test_a_block_of_three_shares_no_port_with_single_ports_given_before_or_after():
    singles = {process.free_port() for _ in range(50)}
    blocks = [process.free_ports(3) for _ in range(30)]
    taken = {first + o for first in blocks for o in range(3)}
    assert len(taken) == 90 and not taken & singles
    assert not {process.free_port() for _ in range(50)} & (taken | singles)
