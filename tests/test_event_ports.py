"""The launcher checks that every server's event channel is on the ports it was given.

cppTango binds a server's ZMQ event port only at the first subscription, so a port taken by
another process after the launcher chose it used to surface later, as a device that answers and
sends no events. Here another process (this test) takes the HV server's event port once the
server has started and before anything subscribes: `up` fails naming the server, the port and
who holds it, and leaves nothing running. After a restart the check runs again: a server whose
event port is taken is stopped and started again on fresh ports, and its events flow."""

from __future__ import annotations

import os
import socket
import threading

import pytest
import tango

from db.config.validation import load_station
from servers.launcher import LaunchError, StationLauncher

from testkit import station_processes, wait_for, write_station

HV_SERVER = "server PowerSupply/demo-hv"


def _hold(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))  # cppTango binds its ZMQ ports on every address
    sock.listen()
    return sock


class PortThief(StationLauncher):
    """A launcher whose HV server's event port another process takes once the server is spawned."""

    held: socket.socket | None = None

    def _start_servers(self, last, deadline):
        started = super()._start_servers(last, deadline)
        hv = next((c for c in self.children if c.name == HV_SERVER), None)
        if hv is not None and self.held is None:
            self.held = _hold(int(hv.env["TANGO_ZMQ_EVENT_PORT"]))
        return started


def test_up_fails_naming_the_taken_event_port_and_leaves_nothing(tmp_path):
    station = load_station(write_station(tmp_path))
    launcher = PortThief(station)
    try:
        with pytest.raises(LaunchError) as info:
            launcher.start(timeout_s=60)
        port = launcher.held.getsockname()[1]
        message = str(info.value)
        assert f"server PowerSupply/demo-hv cannot bind its ZMQ event port {port}" in message, message
        assert f"taken by PID {os.getpid()}" in message, message
        wait_for(lambda: not station_processes(station.tango_host), timeout_s=30, what="every process stopped")
    finally:
        launcher.stop()
        if launcher.held is not None:
            launcher.held.close()


def test_a_restarted_server_on_a_taken_event_port_is_started_again_on_fresh_ports(tmp_path):
    station = load_station(write_station(tmp_path))
    launcher = StationLauncher(station)
    launcher.start(timeout_s=60)
    supervisor = threading.Thread(target=launcher.supervise, daemon=True)
    supervisor.start()
    held = None
    try:
        hv = next(c for c in launcher.children if c.name == HV_SERVER)
        old_port = int(hv.env["TANGO_ZMQ_EVENT_PORT"])
        first_pid = hv.pid
        hv.started_at -= 60  # it has run a while: the supervisor restarts it on the same ports
        os.kill(first_pid, 9)
        wait_for(lambda: not hv.running() or hv.pid != first_pid, what="the HV server gone")
        held = _hold(old_port)  # before its restart (the backoff is 1 s)
        wait_for(lambda: int(hv.env["TANGO_ZMQ_EVENT_PORT"]) != old_port, timeout_s=30,
                 what="the restarted HV server stopped and given fresh ports")
        assert hv.restarts >= 1
        wait_for(lambda: hv.running() and not hv.event_check_pending, timeout_s=30,
                 what="the HV server running again, its event ports checked")
        proxy = tango.DeviceProxy(f"tango://{station.tango_host}/demo/hv/module1")
        seen = []
        event_id = proxy.subscribe_event("heartbeat", tango.EventType.CHANGE_EVENT,
                                         lambda e: seen.append(e) if not e.err else None)
        try:
            wait_for(lambda: len(seen) >= 2, timeout_s=10, what="heartbeat events from the restarted server")
        finally:
            proxy.unsubscribe_event(event_id)
    finally:
        launcher.stop()
        supervisor.join(timeout=5)
        if held is not None:
            held.close()
