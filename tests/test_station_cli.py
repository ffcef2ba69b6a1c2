"""End to end through the command line: up --detach, status --json, kill a server, down."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import tango

from db.runtime import process

from testkit import wait_for, write_station


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "trackerdcs", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def detached(tmp_path):
    path = write_station(tmp_path)
    result = cli("up", str(path), "--detach")
    assert result.returncode == 0, result.stdout + result.stderr
    state = json.loads((tmp_path / "data" / "run" / "station.json").read_text())
    yield path, state
    cli("down", str(path))
    for pid in [state["launcher_pid"], *state["children"].values()]:
        if process.pid_alive(pid):
            process.stop_pid(pid)


def test_up_status_down_leaves_nothing_behind(detached):
    path, state = detached
    status = cli("status", str(path), "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    states = {d["name"]: d["state"] for d in report["devices"]}
    assert states == {"demo/lv/module1-ch1": "OFF", "demo/lv/module1-ch2": "OFF", "demo/hv/module1": "OFF",
                      "demo/env/coldbox": "ON", "demo/env/chiller": "OFF"}
    hv = next(d for d in report["devices"] if d["name"] == "demo/hv/module1")
    assert hv["device_class"] == "PowerSupplyChannel" and set(hv["attributes"]) >= {"voltage", "current"}
    assert set(state["children"]) == {"database", "emulator lv-hmp4040", "emulator hv-k2410", "emulator coldbox",
                                      "server PowerSupply/demo-lv", "server PowerSupply/demo-hv",
                                      "server Environment/demo-coldbox", "broker mosquitto", "bridge"}
    again = cli("up", str(path), "--detach")
    assert again.returncode == 1 and "already up" in again.stderr
    down = cli("down", str(path))
    assert down.returncode == 0 and "launcher" in down.stdout
    pids = [state["launcher_pid"], *state["children"].values()]
    wait_for(lambda: not any(process.pid_alive(p) for p in pids), timeout_s=10, what="every station process gone")


def test_status_is_answered_by_the_launcher_and_is_live(detached):
    """`status` asks the launcher (a proxy per device since start-up) over a socket only the
    station's user can open; what it answers is read when asked: a frozen server is UNREACHABLE."""
    import socket
    import stat

    from db.config.validation import load_station
    from servers import control, status_socket

    path, state = detached
    station = load_station(path)
    sock = status_socket.socket_path(station)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    answer = status_socket.ask(sock)
    direct = control.device_status(station, via_launcher=False)
    assert answer is not None
    assert [(d["name"], d["state"]) for d in answer] == [(d.name, d.state) for d in direct]
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(sock))
        client.sendall(b"__import__('os')\n")
        assert "unknown request" in json.loads(client.makefile().readline())["error"]
    pid = state["children"]["server PowerSupply/demo-hv"]
    os.kill(pid, signal.SIGSTOP)
    try:
        frozen = {d["name"]: d["state"] for d in status_socket.ask(sock)}
    finally:
        os.kill(pid, signal.SIGCONT)
    assert frozen["demo/hv/module1"] == "UNREACHABLE" and frozen["demo/lv/module1-ch1"] == "OFF"
    assert cli("down", str(path)).returncode == 0
    assert not sock.exists() and status_socket.ask(sock) is None


def test_killed_device_server_comes_back_within_10_s(detached):
    path, state = detached
    pid = state["children"]["server PowerSupply/demo-hv"]
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    host = state["tango_host"]

    def answers():
        try:
            device = tango.DeviceProxy(f"tango://{host}/demo/hv/module1")
            device.set_timeout_millis(500)
            return device.state() == tango.DevState.OFF
        except tango.DevFailed:
            return False

    time.sleep(0.2)
    wait_for(answers, timeout_s=10, interval_s=0.2, what="demo/hv/module1 answering again")
    assert time.monotonic() - started < 10
    log = (path.parent / "data" / "log" / "launcher.log").read_text()
    assert "exited with code -9; restarting" in log and "restarted server PowerSupply/demo-hv" in log


def test_port_taken_is_a_clear_error(tmp_path):
    import socket

    path = write_station(tmp_path)
    from db.config.validation import load_station

    port = load_station(path).station.tango.database.embedded.port
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = cli("db", "start", str(path))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr


def test_db_start_status_stop(tmp_path):
    path = write_station(tmp_path)
    assert cli("db", "status", str(path)).returncode == 1
    started = cli("db", "start", str(path))
    assert started.returncode == 0, started.stderr
    try:
        assert "answers" in cli("db", "status", str(path)).stdout
    finally:
        assert cli("db", "stop", str(path)).returncode == 0
    assert cli("db", "status", str(path)).returncode == 1


def test_cli_misuse_gets_one_line_errors_never_a_traceback(tmp_path):
    """Each with the station down: power on, history out of range, --plot where it cannot write."""
    path = write_station(tmp_path)
    base = ["history", "demo/hv/module1/voltage", "-s", str(path)]
    cases = [
        (["power", "on", "demo-module", "-s", str(path)], "is the station up?"),
        (["status", str(path)], "Tango database at 127.0.0.1"),
        (["power", "on", "demo-module", "-s", str(path), "--hv", "100"], "cannot read the limits"),
        (base + ["--since", "9999-01-01T00:00:00", "--until", "9999-01-02T00:00:00"], "outside the times an archive holds"),
        (base + ["--plot", str(tmp_path / "missing" / "x.png")], "does not exist"),
        (base + ["--plot", str(tmp_path / "x.txt")], "must end in .png"),
    ]
    for args, expected in cases:
        result = cli(*args)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr and expected in result.stderr, (args, result.stderr)


def test_emulator_refuses_non_finite_or_negative_delays(emulator):
    from devices.sim.server import EmulatorControl

    emu = emulator("keithley2410")
    control = EmulatorControl(*emu.server.control_address)
    for value in ("nan", "inf", "-1"):
        with pytest.raises(RuntimeError, match="ERR slow"):
            control.send(f"slow {value}")
    with pytest.raises(RuntimeError, match="ERR set"):
        control.send("set temperature nan")
    assert control.state()["faults"]["delay_s"] == 0.0
