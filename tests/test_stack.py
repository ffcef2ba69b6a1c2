"""The production stack for real (issue 10): a private Docker engine builds every image (the base
from debootstrap, the project image offline from the wheelhouse, the test overlay's local
stand-ins) and runs compose.yaml + compose.sim.yaml + test/compose.test.yaml. Then, from the
host and on loopback only: pytango through the published Tango ports, `power on`, MQTT over TLS
with the ACL, Node-RED only through the HTTPS gateway, a killed server container coming back
with no archive gap beyond its outage, a second instrument PC in its own network namespace, a
backup -> down -v -> restore drill, and `down` leaving nothing behind.

Skipped, with the reason, only when no Docker engine can start here (not root, no docker.io).
scripts/stack-test.sh installs what it needs and runs this module alone."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mqtt_tls
import pytest
import yaml
from docker_stack import APP_IMAGE, DOCKER, REPO, Engine, Project, Unavailable, stack_test_station

from services import influx_query
from testkit import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1500)]

GATEWAY_PORT, MQTT_PORT, INFLUX_PORT, TANGO_PORT = 8443, 8883, 8086, 10000
FIXED_PORTS = [3306, INFLUX_PORT, 27017, MQTT_PORT, GATEWAY_PORT, TANGO_PORT,
               *[p + k for p in range(10010, 10080, 10) for k in range(3)]]
PC2_SERVER, PC2_DEVICE, PC2_PORT = "PowerSupply/pc2-lv", "demo/lv/pc2-ch1", 10070
COLDBOX = "demo/env/coldbox"
SENSOR_CONTROL_PORT = 15032  # the sht85 emulator's control port (docker/station.sim.yaml: 15031 + 1)


def _with_instrument_pc(station: dict) -> dict:
    """The test station plus one server that runs on the second instrument PC (its own emulator)."""
    station["instruments"]["pc2-hmp4040"] = {"model": "hmp4040", "resource": "TCPIP::127.0.0.1::15125::SOCKET",
                                             "emulated": True}
    station["servers"].append({"name": PC2_SERVER, "port": PC2_PORT, "devices": [{
        "name": PC2_DEVICE, "class": "PowerSupplyChannel", "instrument": "pc2-hmp4040",
        "properties": {"channel": 1, "voltage_max": 12.0, "current_limit_max": 3.0, "poll_period": 0.5},
        "attributes": {"voltage": {"abs_change": 0.005, "archive": True, "publish": True},
                       "current": {"abs_change": 0.001, "archive": True, "publish": True}}}]})
    return station


def _say(request, text: str) -> None:
    """A figure for the CI log (printed even when pytest captures the output)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(text, flush=True)


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    # TRACKERDCS_STACK_ENGINE=DIR keeps the engine's images in DIR between runs (development)
    kept = os.environ.get("TRACKERDCS_STACK_ENGINE")
    folder = Path(kept) if kept else tmp_path_factory.mktemp("engine")
    try:
        started = Engine(folder).start()
    except Unavailable as why:
        pytest.skip(f"no Docker engine can start here: {why}")
    try:
        started.base_image()
        if not (kept and started.has_image(APP_IMAGE)):
            started.build()
        yield started
    finally:
        started.stop()
        if not kept:
            started.remove()


@pytest.fixture(scope="module")
def stack(engine, tmp_path_factory, request):
    taken = [p for p in FIXED_PORTS if _port_taken(p)]
    assert not taken, f"the stack's fixed loopback ports are in use on this host: {taken}"
    folder = tmp_path_factory.mktemp("stack")
    sim = yaml.safe_load((DOCKER / "station.sim.yaml").read_text())
    project = Project(engine, folder / "docker").prepare(_with_instrument_pc(stack_test_station(sim)))
    started = time.monotonic()
    project.compose("up", "-d", "--wait", "--wait-timeout", "300", timeout=400)
    engine.timings["stack up (--wait: all healthy)"] = time.monotonic() - started
    states = project.ps()
    unwell = {name: (row["State"], row.get("Health"), row.get("ExitCode")) for name, row in states.items()
              if not (row["State"] == "running" and row.get("Health") in ("healthy", "")
                      or name == "tango-config" and row["State"] == "exited" and row.get("ExitCode") == 0)}
    assert not unwell, f"services not up: {unwell}\n" + "".join(project.logs(name)[-2000:] for name in unwell)
    assert {"tango-config", "tango-dbds", "bridge", "ds-hv", "gateway", "nodered"} <= set(states), states
    _say(request, f"\nstack test: project image {APP_IMAGE}: {engine.image_size(APP_IMAGE) / 1e6:.0f} MB")
    for what, seconds in engine.timings.items():
        _say(request, f"stack test: {what}: {seconds:.1f} s")
    os.environ["TANGO_HOST"] = f"localhost:{TANGO_PORT}"
    yield project
    project.compose("down", "-v", "--remove-orphans", check=False, timeout=300)


def _secret(project: Project, name: str) -> str:
    return (project.folder / "secrets" / name).read_text().strip()


def _ca(project: Project) -> str:
    return str(project.folder / "generated/tls/ca.crt")


def test_a_host_client_lists_and_drives_the_devices_through_the_published_ports(stack):
    import tango

    db = tango.Database()
    servers = set(db.get_server_list().value_string)
    assert {"PowerSupply/demo-lv", "PowerSupply/demo-hv", "Environment/demo-coldbox", "Safety/demo",
            "BurnIn/demo", "Ph2Acf/demo-daq"} <= servers, servers
    chiller = tango.DeviceProxy("demo/env/chiller")
    chiller.write_attribute("setpoint", 14.5)
    wait_for(lambda: chiller.read_attribute("setpoint").value == 14.5, timeout_s=10, what="the chiller's setpoint")
    info = tango.DeviceProxy("demo/lv/module1-ch1").info()
    assert info.server_host and "demo-lv" in info.server_id


def test_power_on_from_the_host(stack):
    done = subprocess.run([sys.executable, "-m", "trackerdcs.cli", "power", "on", "demo-module", "--hv", "100",
                           "-s", str(stack.folder / "station.test.yaml")], capture_output=True, text=True,
                          timeout=180, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo-module is on" in done.stdout
    import tango

    hv = tango.DeviceProxy("demo/hv/module1")
    assert hv.read_attribute("output").value and abs(hv.read_attribute("voltage").value - 100) < 1.0


def test_mqtt_needs_tls_and_a_password_and_the_acl_refuses_what_the_station_file_does_not_allow(stack):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    ca = _ca(stack)
    assert mqtt_tls.connack(mqtt_tls.client(ca, None), MQTT_PORT) == 135  # anonymous: Not authorized
    assert mqtt_tls.connack(mqtt_tls.client(ca, "operator", "wrong"), MQTT_PORT) in (134, 135)
    operator = mqtt_tls.client(ca, "operator", _secret(stack, "mqtt_operator_pw"))
    replies: list[dict] = []
    acks: dict[int, int] = {}
    topic = "dcs/demo/env/chiller/setpoint/set"
    operator.on_message = lambda c, u, message: replies.append(json.loads(message.payload))
    operator.on_publish = lambda c, u, mid, reason_code, props: acks.__setitem__(mid, reason_code.value)
    assert mqtt_tls.connack(operator, MQTT_PORT) == 0
    try:
        operator.subscribe(topic + "/reply", qos=1)
        time.sleep(0.5)
        props = Properties(PacketTypes.PUBLISH)
        refused = operator.publish("dcs/demo/hv/module1/voltage_max/set", b'{"value": 1}', qos=1, properties=props).mid
        allowed = operator.publish(topic, json.dumps({"value": 13.0, "id": "stack"}), qos=1, properties=props).mid
        wait_for(lambda: len(acks) == 2 and replies, timeout_s=15, what="PUBACKs and the bridge's reply")
        assert acks[allowed] == 0 and acks[refused] == 135, acks  # 135: Not authorized
        assert replies[-1] == {"ok": True, "id": "stack"}, replies
    finally:
        operator.disconnect()
        operator.loop_stop()


def _https(path: str, ca: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    context = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request(f"https://localhost:{GATEWAY_PORT}{path}", data=body, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=15) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_node_red_is_reached_only_through_the_https_gateway_asks_for_a_login_and_runs_the_generated_flows(stack):
    ca = _ca(stack)
    assert not _port_taken(1880), "Node-RED answers on the host, not only through the gateway"
    status, page = _https("/nodered/", ca)
    assert status == 200 and b"Node-RED" in page
    status, login = _https("/nodered/auth/login", ca)
    assert status == 200 and json.loads(login)["type"] == "credentials"
    assert _https("/nodered/flows", ca)[0] == 401
    form = f"client_id=node-red-admin&grant_type=password&scope=*&username=admin&password=" \
           f"{_secret(stack, 'nodered_admin_pw')}".encode()
    status, token = _https("/nodered/auth/token", ca, "POST", form,
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, token
    bearer = {"Authorization": f"Bearer {json.loads(token)['access_token']}"}
    status, flows = _https("/nodered/flows", ca, headers=bearer)
    assert status == 200 and {"tdcs.broker", "tdcs.tls", "tdcs.page.demo-module"} <= {n["id"] for n in json.loads(flows)}
    # the flows stack init generated reach the TLS-only broker with the "nodered" account
    wait_for(lambda: "Connected to broker: mqtts://mosquitto:8883" in stack.logs("nodered"), timeout_s=60,
             what="Node-RED's generated flows connected to the broker over TLS")
    log = stack.logs("nodered")
    assert "Started flows" in log and "missing types" not in log.lower() and "Connection failed" not in log, log[-3000:]
    status, page = _https("/nodered/api/dashboard/demo-module", ca)
    assert status == 200 and b"<div id=\"app\"" in page, page[:500]
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", GATEWAY_PORT), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET /nodered/comms HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert tls.recv(64).startswith(b"HTTP/1.1 101"), "the gateway does not pass Node-RED's websocket"


def _times(device: str, attribute: str, since_ns: int) -> list[int]:
    rows = influx_query(INFLUX_PORT, "dcs", f"SELECT value FROM env WHERE device = '{device}' AND "
                                           f"attribute = '{attribute}' AND time >= {since_ns}")
    return sorted(int(r["time"]) for r in rows)


def test_a_killed_server_container_comes_back_and_the_archive_has_no_gap_beyond_the_outage(stack, engine, request):
    import tango

    since = time.time_ns()
    time.sleep(5)
    assert len(_times(COLDBOX, "temperature", since)) >= 3, "the coldbox's temperature is not archived"
    container = stack.ps()["ds-coldbox"]["ID"]
    inspect = lambda: json.loads(engine.docker("inspect", container, capture=True).stdout)[0]["State"]  # noqa: E731
    pid = inspect()["Pid"]
    killed_ns, killed = time.time_ns(), time.monotonic()
    os.kill(pid, signal.SIGKILL)  # a crash, not `docker stop`: the restart policy acts
    wait_for(lambda: inspect()["Pid"] not in (0, pid), timeout_s=30, what="the container restarted")
    coldbox = tango.DeviceProxy(COLDBOX)

    def answers() -> bool:
        try:
            return coldbox.read_attribute("temperature").value is not None
        except tango.DevFailed:
            return False

    wait_for(answers, timeout_s=60, interval_s=0.2, what="the restarted server answers")
    outage = time.monotonic() - killed
    time.sleep(10)
    points = _times(COLDBOX, "temperature", since)
    before, after = [t for t in points if t < killed_ns], [t for t in points if t > killed_ns]
    resumed = (after[0] - killed_ns) / 1e9 if after else float("inf")
    _say(request, f"\nstack test: coldbox server outage {outage:.1f} s (kill to first answer); archive resumed {resumed:.1f} s after "
          f"the kill; {len(after)} points in the {(time.time_ns() - killed_ns) / 1e9:.0f} s since")
    assert before, "nothing archived before the kill"
    # the bridge's restart watcher turns every second and subscribes again at once; the server
    # polls temperature every second: the archive resumes within those two of the outage's end
    assert resumed <= outage + 2.0, f"the archive resumed {resumed:.1f} s after the kill, the outage was {outage:.1f} s"
    assert len(after) >= 5, f"the events do not flow after the restart: {len(after)} points in 10 s"


def test_the_second_instrument_pcs_devices_are_archived_by_the_central_bridge(stack, engine):
    pc2 = Project(engine, stack.folder, name="trackerdcs-pc2",
                  files=["compose.instrument-pc.yaml", "test/compose.instrument-pc.test.yaml"],
                  variables={"DCS_SERVER": PC2_SERVER, "STATION_FILE": "./station.pc2.yaml"})
    station = yaml.safe_load((stack.folder / "station.test.yaml").read_text())
    station["tango"]["database"] = {"external": f"dcs-central:{TANGO_PORT}"}
    (stack.folder / "station.pc2.yaml").write_text(yaml.safe_dump(station))
    since = time.time_ns()
    try:
        pc2.compose("up", "-d", "--wait", "--wait-timeout", "120", timeout=200)
        for service in ("ds", "emulator"):
            state = json.loads(engine.docker("inspect", pc2.ps()[service]["ID"], capture=True).stdout)[0]
            mode = state["HostConfig"]["NetworkMode"]
            assert mode != "host" and not set(state["NetworkSettings"]["Networks"]) - {"trackerdcs-pc2_pc"}, \
                f"the instrument PC's {service} shares a network with the centre: {mode}"
        rows = wait_for(lambda: influx_query(INFLUX_PORT, "dcs", f"SELECT value FROM lv WHERE device = "
                                                                 f"'{PC2_DEVICE}' AND time >= {since}"),
                        timeout_s=60, interval_s=1.0, what=f"{PC2_DEVICE} archived by the central bridge")
        assert rows
    finally:
        pc2.compose("down", "-v", check=False)


def _tango_db_digest(project: Project) -> tuple[dict, str]:
    """Row counts and a checksum of what the Tango database holds that no server start changes."""
    queries = {"devices": "SELECT name, class, server FROM device ORDER BY name",
               "properties": "SELECT device, name, count, value FROM property_device ORDER BY device, name, count",
               "routines": "SELECT routine_name FROM information_schema.routines WHERE routine_schema = 'tango' "
                           "ORDER BY 1"}
    counts, digest = {}, hashlib.sha256()
    for what, sql in queries.items():
        out = project.compose("exec", "-T", "tango-db", "sh", "-c",
                              f'mariadb -uroot -p"$(cat /run/secrets/tangodb_root_pw)" -N -B tango -e "{sql}"').stdout
        counts[what] = len(out.splitlines())
        digest.update(out.encode())
    return counts, digest.hexdigest()


def _archive_rows(until_ns: int) -> set[str]:
    """Every archived point stamped up to ``until_ns``, each as one JSON text. A null column is
    left out: InfluxDB has no nulls, only absent tags and fields, and which absent ones `SELECT *`
    lists as null depends on its series index (a restored one lists more)."""
    rows = set()
    for measurement in ("env", "hv", "lv", "daq"):
        rows |= {json.dumps({k: v for k, v in r.items() if v is not None}, sort_keys=True) for r in influx_query(
            INFLUX_PORT, "dcs", f"SELECT * FROM {measurement} WHERE time <= {until_ns}")}
    return rows


def _differences(before: set[str], after: set[str]) -> str:
    missing, extra = sorted(before - after), sorted(after - before)
    return f"{len(missing)} point(s) missing, e.g. {missing[:3]}; {len(extra)} extra, e.g. {extra[:3]}"


def _alarm_log(project: Project, engine: Engine) -> str:
    volume = f"{project.name}_dcs-data"
    return engine.docker("run", "--rm", "-v", f"{volume}:/v:ro", "debian:bookworm-slim", "sh", "-c",
                         "cat /v/log/alarms.jsonl 2>/dev/null || true", capture=True).stdout.decode()


def test_backup_then_down_v_then_restore_gives_back_the_tango_db_the_archive_and_the_alarm_log(stack, engine, request):
    from docker_backup import backup, restore

    from devices.sim.server import EmulatorControl

    sensor = EmulatorControl("127.0.0.1", SENSOR_CONTROL_PORT)  # the sim stack's emulators are on the host
    sensor.send("set humidity 95")  # condensing: the interlock trips the HV and writes the alarm log
    try:
        wait_for(lambda: _alarm_log(stack, engine).count("\n") >= 1, timeout_s=30, interval_s=1.0,
                 what="the humidity trip in the alarm log")
    finally:
        sensor.send("set humidity 3")
    archive_dir = stack.folder.parent / "backups"
    started = time.monotonic()
    archive, taken_ns = backup(stack, engine, archive_dir)
    backed_up = time.monotonic() - started
    tango_before = _tango_db_digest(stack)
    # points stamped up to 5 s before the dump: those written in the dump for sure (the bridge
    # writes a batch every 0.2 s; a point stamped just before the dump can arrive just after it)
    settled_ns = taken_ns - 5_000_000_000
    archive_before = _archive_rows(settled_ns)
    alarms_before = _alarm_log(stack, engine)
    assert len(archive_before) > 100 and tango_before[0]["devices"] > 10 and tango_before[0]["routines"] >= 10

    stack.compose("down", "-v", timeout=300)
    assert not engine.docker("volume", "ls", "-q", "--filter", f"name={stack.name}_", capture=True).stdout.strip()
    started = time.monotonic()
    restore(stack, engine, archive)
    restored = time.monotonic() - started
    assert _alarm_log(stack, engine).startswith(alarms_before)
    assert _tango_db_digest(stack) == tango_before
    stack.compose("up", "-d", "--wait", "--wait-timeout", "300", timeout=400)
    try:
        wait_for(lambda: _archive_rows(settled_ns) == archive_before, timeout_s=30, interval_s=1.0,
                 what="the archive's points up to the backup, unchanged")
    except AssertionError as error:
        raise AssertionError(f"{error}: {_differences(archive_before, _archive_rows(settled_ns))}") from None
    _say(request, f"\nstack test: backup {archive.stat().st_size / 1e3:.0f} kB in {backed_up:.1f} s; restore {restored:.1f} s; "
          f"{len(archive_before)} archive points, Tango DB {tango_before[0]}")


def test_down_leaves_no_container_network_or_process_behind(stack, engine):
    stack.compose("down", "--remove-orphans", timeout=300)
    label = f"label=com.docker.compose.project={stack.name}"
    assert not engine.docker("ps", "-aq", "--filter", label, capture=True).stdout.strip()
    assert not engine.docker("network", "ls", "-q", "--filter", label, capture=True).stdout.strip()
    shims = subprocess.run(["pgrep", "-f", f"containerd-shim.*{engine.folder}"], capture_output=True, text=True)
    assert not shims.stdout.strip(), f"processes left behind: {shims.stdout}"
    for port in (TANGO_PORT, MQTT_PORT, GATEWAY_PORT, 10010):
        assert not _port_taken(port), f"port {port} still answers after down"
