"""Station file -> embedded Tango database: diff, idempotent apply, prune, refusal."""

import subprocess
import sys

import pytest
import tango
import yaml

from db.config import tango_config
from db.config.validation import load_station
from db.runtime.tango_database import EmbeddedDatabase, connect

from testkit import write_station


@pytest.fixture(scope="module")
def station_path(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("apply")
    path = write_station(tmp)
    database = EmbeddedDatabase.of(load_station(path))
    database.start()
    yield path
    database.stop()


def cli(*args):
    return subprocess.run([sys.executable, "-m", "trackerdcs", *args], capture_output=True, text=True, timeout=120)


def test_apply_twice_second_diff_is_empty(station_path):
    first = cli("config", "apply", str(station_path))
    assert first.returncode == 0, first.stderr
    assert "+ device demo/hv/module1 (PowerSupplyChannel) in server PowerSupply/demo-hv" in first.stdout
    second = cli("config", "diff", str(station_path))
    assert second.returncode == 0 and second.stdout.strip() == "no changes"
    loaded = load_station(station_path)
    db = connect(loaded.tango_host)
    props = db.get_device_property("demo/hv/module1", ["voltage_max", "model", "ramp_required"])
    assert list(props["voltage_max"]) == ["600.0"] and list(props["model"]) == ["keithley2410"]
    attr = db.get_device_attribute_property("demo/hv/module1", ["current"])["current"]
    assert list(attr["max_alarm"]) == ["9e-05"]


def test_changed_and_removed_settings_show_in_diff(station_path, tmp_path):
    raw = yaml.safe_load(station_path.read_text())
    hv = raw["servers"][1]["devices"][0]
    hv["properties"]["voltage_max"] = 500.0
    del hv["properties"]["poll_period"]
    del hv["attributes"]["current"]["max_warning"]
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(raw))
    diff = cli("config", "diff", str(edited)).stdout
    assert "~ demo/hv/module1 property voltage_max = ['600.0'] -> ['500.0']" in diff
    assert "- demo/hv/module1 property poll_period" in diff
    assert "- demo/hv/module1/current max_warning" in diff


def test_prune_removes_only_the_station_devices_that_left(station_path, tmp_path):
    loaded = load_station(station_path)
    db = connect(loaded.tango_host)
    foreign = tango.DbDevInfo()
    foreign.name, foreign._class, foreign.server = "demo/other/foreign", "TangoTest", "TangoTest/other"
    db.add_device(foreign)
    raw = yaml.safe_load(station_path.read_text())
    raw["servers"][0]["devices"].pop(1)  # demo/lv/module1-ch2 leaves the file
    raw["modules"][0]["lv"].remove("demo/lv/module1-ch2")
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text(yaml.safe_dump(raw))
    assert "module1-ch2" not in cli("config", "diff", str(smaller)).stdout
    pruned = cli("config", "apply", "--prune", str(smaller))
    assert pruned.returncode == 0, pruned.stderr
    assert "- device demo/lv/module1-ch2 (left the station file)" in pruned.stdout
    names = db.get_device_exported("demo/*")  # noqa: F841 - exported list may be empty; check definitions
    assert "demo/lv/module1-ch2" not in [n.lower() for n in db.get_device_name("*", "PowerSupplyChannel")]
    assert db.get_device_info("demo/other/foreign").class_name == "TangoTest"
    assert cli("config", "diff", "--prune", str(smaller)).stdout.strip() == "no changes"
    assert cli("config", "apply", str(station_path)).returncode == 0  # put it back for other tests


def test_file_with_errors_is_refused_before_writing(station_path, tmp_path):
    loaded = load_station(station_path)
    db = connect(loaded.tango_host)
    before = sorted(db.get_device_name("*", "*"))
    raw = yaml.safe_load(station_path.read_text())
    raw["servers"].append({"name": "PowerSupply/new", "devices": [
        {"name": "demo/lv/new", "class": "PowerSupplyChannel", "properties": {"channel": "x"}},
        {"name": "demo/lv/new2", "class": "Unknown"}]})
    raw["servers"][0]["devices"][0]["attributes"]["voltage"]["bogus"] = 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, sort_keys=False))
    result = cli("config", "apply", str(bad))
    assert result.returncode == 1
    assert "3 problem(s)" in result.stderr or "problem(s)" in result.stderr
    assert sorted(db.get_device_name("*", "*")) == before


def test_plan_is_empty_in_process_too(station_path):
    loaded = load_station(station_path)
    assert tango_config.plan(loaded, connect(loaded.tango_host)) == []


def test_a_server_registered_for_starter_starts_while_that_starter_is_down(tmp_path):
    """Each DbExportDevice of a server Starter controls makes the database tell that Starter. pytango's
    databaseds did so inside the call, and a Starter not exported yet (Starter starts its servers
    before it is) failed the export, so the server exited at startup; ours tells it from a thread."""
    import os
    import socket
    import time

    from db.runtime import process

    host = socket.gethostname().split(".")[0]
    path = write_station(tmp_path, lambda raw: raw["tango"].update(starter={"host": host}), safety=True)
    station = load_station(path)
    database = EmbeddedDatabase.of(station)
    database.start()
    server = None
    try:
        tango_config.apply(tango_config.plan(station, connect(station.tango_host)))
        assert connect(station.tango_host).get_server_info("Safety/demo").host == host
        env = dict(os.environ, TANGO_HOST=station.tango_host)
        with open(tmp_path / "safety.log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "servers.device_server", "Safety", "demo"], env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
        interlock = next(d.name for _, d in station.station.devices() if d.class_ == "SafetyInterlock")
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, f"the server exited: {(tmp_path / 'safety.log').read_text()[-2000:]}"
            try:
                tango.DeviceProxy(f"tango://{station.tango_host}/{interlock}").ping()
                break
            except tango.DevFailed:
                assert time.monotonic() < deadline, "the interlock did not answer in 30 s"
                time.sleep(0.2)
    finally:
        if server is not None:
            process.stop_pid(server.pid)
            server.wait(timeout=10)
        database.stop()


def test_serve_runs_one_server_on_its_fixed_port_advertising_the_published_host(tmp_path):
    """`trackerdcs serve`, a stack container's command: the server listens on its station-file port
    and the database holds the published host, which is what clients on other hosts connect to."""
    import os
    import time

    from db.runtime import process

    from testkit import free_port

    port = free_port()

    def fixed(raw):
        next(s for s in raw["servers"] if s["name"] == "Safety/demo")["port"] = port

    path = write_station(tmp_path, fixed, safety=True)
    station = load_station(path)
    database = EmbeddedDatabase.of(station)
    database.start()
    server = None
    try:
        tango_config.apply(tango_config.plan(station, connect(station.tango_host)))
        with open(tmp_path / "serve.log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "trackerdcs", "serve", "Safety/demo", "-s", str(path),
                                       "--publish", "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT,
                                      env=dict(os.environ))
        deadline = time.monotonic() + 30
        while not connect(station.tango_host).get_device_info("dserver/Safety/demo").exported:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the server did not export in 30 s"
            time.sleep(0.2)
        info = connect(station.tango_host).import_device("dserver/Safety/demo")
        assert process.port_open("127.0.0.1", port)
        healthy = subprocess.run([sys.executable, "-m", "servers.healthcheck", "Safety/demo"], capture_output=True,
                                 text=True, env=dict(os.environ, TANGO_HOST=station.tango_host), timeout=30)
        assert healthy.returncode == 0, healthy.stderr
        assert info.exported and info.ior.startswith("IOR:")
        process.stop_pid(server.pid)
        server.wait(timeout=10)
        gone = subprocess.run([sys.executable, "-m", "servers.healthcheck", "Safety/demo"], capture_output=True,
                              text=True, env=dict(os.environ, TANGO_HOST=station.tango_host), timeout=30)
        assert gone.returncode == 1 and "Safety/demo does not answer" in gone.stderr
    finally:
        if server is not None and server.poll() is None:
            process.stop_pid(server.pid)
            server.wait(timeout=10)
        database.stop()
