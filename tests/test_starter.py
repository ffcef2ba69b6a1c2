"""Tango Starter (Debian's tango-starter, the supervisor behind Astor) runs the station's device
servers: `up` leaves them to it and still runs the database, emulators, broker and bridge."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import psutil
import pytest
import tango

from db.config import tango_config
from db.config.validation import load_station
from db.runtime import process
from db.runtime.tango_database import EmbeddedDatabase, connect
from servers.launcher import StationLauncher

from testkit import wait_for, write_station

STARTER = "/usr/lib/tango/Starter"
pytestmark = pytest.mark.skipif(not os.path.exists(STARTER), reason=f"{STARTER} is absent: apt-get install tango-starter "
                                                                   "(scripts/test.sh installs it)")


def test_starter_runs_the_stations_servers_and_the_devices_answer(tmp_path):
    host = socket.gethostname().split(".")[0]
    path = write_station(tmp_path, lambda raw: raw["tango"].update(starter={"host": host}), safety=True)
    station = load_station(path)
    assert shutil.which("PowerSupply") or os.path.exists(os.path.join(os.path.dirname(os.sys.executable), "PowerSupply")), \
        "the PowerSupply console script is not installed: pip install -e ."
    database = EmbeddedDatabase.of(station)
    database.start(detached=False)  # as a lab's database, running before Starter
    starter = None
    launcher = StationLauncher(station)
    try:
        tango_config.apply(tango_config.plan(station, connect(station.tango_host)))
        env = dict(os.environ, TANGO_HOST=station.tango_host)
        with open(tmp_path / "starter.log", "wb") as log:
            starter = subprocess.Popen([STARTER, host], env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        launcher.start(timeout_s=90)
        assert not [c for c in launcher.children if c.name.startswith("server ")], "the launcher started servers itself"
        proxy = tango.DeviceProxy(f"tango://{station.tango_host}/tango/admin/{host}")
        running = wait_for(lambda: set(proxy.RunningServers or ()) >= {s.name for s in station.station.servers},
                           timeout_s=30, what="Starter lists every server as running")
        assert running
        for _, device in station.station.devices():
            info = connect(station.tango_host).get_device_info(device.name)
            server = psutil.Process(info.pid)  # Starter daemonises what it starts (its parent is init)
            executable, instance = info.ds_full_name.split("/")
            assert os.path.basename(server.cmdline()[1]) == executable and instance in server.cmdline(), server.cmdline()
            assert info.pid not in {c.pid for c in launcher.children}
            assert tango.DeviceProxy(f"tango://{station.tango_host}/{device.name}").state() != tango.DevState.UNKNOWN
        health = wait_for(lambda: (station.data_dir / "run" / "bridge-health.json").exists(), what="the bridge runs")
        assert health
        served = {connect(station.tango_host).get_device_info(d.name).pid for _, d in station.station.devices()}
        launcher.stop()
        assert not [pid for pid in served if process.pid_alive(pid)], "a server Starter ran outlived the station's stop"
    finally:
        launcher.stop()
        if starter is not None:
            process.stop_pid(starter.pid)
            starter.wait(timeout=10)
        database.stop()
