"""Port checks of db/runtime/process.py: a listener counts as taken, a just-closed one does not."""

from __future__ import annotations

import socket

import pytest

from db.runtime import process

pytestmark = pytest.mark.unit  # in-process: no service, no child process


def test_a_listener_is_taken_time_wait_is_not():
    port = process.free_port()
    listener = socket.create_server(("127.0.0.1", port))
    with pytest.raises(process.PortTaken, match=f"embedded MQTT broker: port {port} on 127.0.0.1 is taken"):
        process.check_port_free("127.0.0.1", port, "embedded MQTT broker")
    client = socket.create_connection(("127.0.0.1", port))
    server_side, _ = listener.accept()
    server_side.close()  # the server closes first: its end of the connection lingers in TIME_WAIT
    listener.close()
    client.close()
    process.check_port_free("127.0.0.1", port, "embedded MQTT broker")  # `down` then `up` at once


def test_free_ports_are_below_the_ephemeral_range():
    low, _ = process._ephemeral_range()
    ports = {process.free_port() for _ in range(20)}
    if low > process.LOWEST_PORT + 1000:
        assert all(process.LOWEST_PORT <= port < low for port in ports)
