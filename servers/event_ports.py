"""Is a server's event channel really on the ports the station file pins?

cppTango binds a server's ZMQ heartbeat port at start but its event port only at the first
subscription. A port another process took in the meantime then fails that first subscription
(``API_ZmqInitFailed ... Address already in use``), and the device still answers: the server
looks fine and sends no events. So the launcher makes that first subscription itself, once the
server's devices answer: an attribute-configuration subscription of a device's State, which needs
no polling, through the admin device's ZmqEventSubscriptionChange (what a client's
subscribe_event sends). Its reply names the endpoints the server bound; they must be the pinned
ones. Nothing here is a client subscription: no event is ever sent for it.
"""

from __future__ import annotations

import psutil
import tango


class EventPortError(RuntimeError):
    pass


def port_holder(port: int) -> str:
    """Who listens on TCP ``port`` on this host ("PID 123 (mosquitto)"), as far as we may see."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    return "a process of another user"
                try:
                    return f"PID {conn.pid} ({psutil.Process(conn.pid).name()})"
                except psutil.Error:
                    return f"PID {conn.pid}"
    except psutil.Error:
        pass
    return "another process"


def _port_of(endpoint: str) -> int | None:
    try:
        return int(endpoint.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def check_event_ports(tango_host: str, server: str, device: str, event_port: int, heartbeat_port: int,
                      timeout_ms: int = 3000) -> None:
    """Make server's event channel bind (if it has not yet) and check it is on the pinned ports;
    EventPortError says which port is wrong and who holds it."""
    admin = tango.DeviceProxy(f"tango://{tango_host}/dserver/{server}")
    admin.set_timeout_millis(timeout_ms)
    try:
        _, endpoints = admin.command_inout("ZmqEventSubscriptionChange", [device, "state", "subscribe", "attr_conf"])
    except tango.DevFailed as exc:
        reason = exc.args[0].reason
        if reason == "API_ZmqInitFailed":
            raise EventPortError(f"server {server} cannot bind its ZMQ event port {event_port} (the station file's "
                                 f"port + 1): it is taken by {port_holder(event_port)}. Its devices would answer "
                                 "and send no events; free the port or choose another port for the server") from None
        raise EventPortError(f"server {server}: its event channel could not be checked "
                             f"({reason}: {exc.args[0].desc.strip()})") from None
    bound = {"heartbeat": _port_of(endpoints[0]) if endpoints else None,
             "event": _port_of(endpoints[1]) if len(endpoints) > 1 else None}
    for what, pinned in (("heartbeat", heartbeat_port), ("event", event_port)):
        if bound[what] != pinned:
            raise EventPortError(f"server {server} sends its ZMQ {what}s on port {bound[what]}, not on the pinned "
                                 f"port {pinned}: it was started without the station file's ports")
