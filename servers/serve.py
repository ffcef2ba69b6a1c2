"""One device server of a station, run in the foreground with fixed, advertised ports: what a
container (or a systemd unit on an instrument PC) runs, one server each.

    trackerdcs serve PowerSupply/demo-hv -s station.yaml [--publish host.lab.example]

The server listens on its station-file ``port`` (GIOP) and that port + 1 and + 2 for ZMQ events
and heartbeats, and advertises ``--publish`` (the host's FQDN by default), so that clients on
other hosts (Jive, Taurus on an operator PC, the bridge) reach its devices and get its events
(cppTango >= 9.4.1 advertises the published host for ZMQ too).
"""

from __future__ import annotations

import os
import socket

from db.config.station import LoadedStation

ZMQ_EVENT_OFFSET, ZMQ_HEARTBEAT_OFFSET = 1, 2


class ServeError(ValueError):
    pass


def server_args(station: LoadedStation, name: str, publish: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(argv for servers.device_server.main, the environment it needs) of server ``name``."""
    server = next((s for s in station.station.servers if s.name == name), None)
    if server is None:
        known = ", ".join(s.name for s in station.station.servers)
        raise ServeError(f"no server {name!r} in {station.path.name} (its servers: {known})")
    if server.port is None:
        raise ServeError(f"server {name} has no port in {station.path.name}: a server run on its own needs a fixed "
                         "port (and uses port + 1 and + 2 for its events)")
    host = publish or socket.getfqdn()
    executable, instance = name.split("/", 1)
    args = [executable, instance, "-ORBendPoint", f"giop:tcp::{server.port}",
            "-ORBendPointPublish", f"giop:tcp:{host}:{server.port}"]
    env = {"TANGO_HOST": station.tango_host,
           "TANGO_ZMQ_EVENT_PORT": str(server.port + ZMQ_EVENT_OFFSET),
           "TANGO_ZMQ_HEARTBEAT_PORT": str(server.port + ZMQ_HEARTBEAT_OFFSET)}
    return args, env


def serve(station: LoadedStation, name: str, publish: str | None = None) -> int:
    args, env = server_args(station, name, publish)
    os.environ.update(env)  # read by cppTango when the server starts, below
    from servers.device_server import main

    return main(args)
