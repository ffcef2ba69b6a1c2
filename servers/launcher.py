"""Start a whole station from its file and keep it running.

``trackerdcs up`` runs this in the foreground (``--detach``: in its own
session, with a pid file). Order: embedded database -> apply the file ->
emulators -> one process per device server -> wait until every device
answers -> check each server's event channel is on its ports (servers/event_ports.py) ->
the interlocks' servers -> the bridge. Then it supervises: a child that dies is restarted with backoff
and the restart is logged. SIGTERM / Ctrl-C stops every child it started,
by PID, newest first.

    python -m servers.launcher STATION_FILE
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import tango

from db.config import tango_config
from db.config.station import EmbeddedRunStore, LoadedStation
from db.config.validation import load_station
from db.runtime import process
from db.runtime.proxies import Proxies
from db.runtime.tango_database import DatabaseError, EmbeddedDatabase, answering, connect
from servers import device_status, emulators, ph2acf_boards
from servers.broker import broker_command
from servers.event_ports import EventPortError, check_event_ports
from servers.serve import ZMQ_EVENT_OFFSET, ZMQ_HEARTBEAT_OFFSET
from servers.status_socket import StatusSocket, socket_path

log = logging.getLogger("trackerdcs.launcher")

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
BRIDGE_READY_S = 30.0
STARTER_WAIT_S = 30.0


class LaunchError(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    log_file: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    backoff: float = BACKOFF_START_S
    next_start: float = 0.0
    started_at: float = 0.0
    ready_check: object = field(default=None, repr=False)
    respawn: object = field(default=None, repr=False)  # () -> (args, env) with fresh ports
    startup_retries: int = 0
    after_others: bool = False  # an interlock's server: (re)started once the servers it watches answer
    server: str | None = None  # a device server's name ("PowerSupply/demo-hv") and one of its devices
    device: str | None = None
    event_check_pending: bool = False  # restarted: its event ports are checked once its device answers

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        self.proc = process.spawn(self.args, self.env, self.log_file)
        self.started_at = time.monotonic()
        self.event_check_pending = self.server is not None

    def check_event_ports(self, tango_host: str) -> None:
        """EventPortError unless this server's ZMQ events and heartbeats are on the ports it was given."""
        check_event_ports(tango_host, self.server, self.device, int(self.env["TANGO_ZMQ_EVENT_PORT"]),
                          int(self.env["TANGO_ZMQ_HEARTBEAT_PORT"]))
        self.event_check_pending = False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def run_dir(station: LoadedStation) -> Path:
    return station.data_dir / "run"


def state_file(station: LoadedStation) -> Path:
    return run_dir(station) / "station.json"


def launcher_pid_file(station: LoadedStation) -> Path:
    return run_dir(station) / "launcher.pid"


def running_launcher(station: LoadedStation) -> int | None:
    pid = process.read_pid(launcher_pid_file(station))
    return pid if pid is not None and process.pid_alive(pid) else None


def startup_deadline_s(station: LoadedStation) -> float:
    """How long `up` waits for every device to answer: 60 s, and 0.4 s more per device beyond 75
    (a 100-module station, 321 devices: 158 s). TRACKERDCS_STARTUP_S sets it."""
    override = os.environ.get("TRACKERDCS_STARTUP_S")
    if override:
        try:
            return float(override)
        except ValueError:
            raise LaunchError(f"TRACKERDCS_STARTUP_S={override!r} is not a number of seconds") from None
    devices = sum(1 for _ in station.station.devices())
    return 60.0 + 0.4 * max(0, devices - 75)


def station_ports(station: LoadedStation) -> frozenset[int]:
    """Every port the station file pins (database, broker, run store, emulators and their control
    ports, servers and their ZMQ ports): a port the launcher picks is never one of them."""
    s = station.station
    ports = {server.port + offset for server in s.servers if server.port
             for offset in (0, ZMQ_EVENT_OFFSET, ZMQ_HEARTBEAT_OFFSET)}
    for instrument in s.instruments.values():
        if instrument.emulated and instrument.tcp_address is not None:
            ports |= {instrument.tcp_address[1], instrument.control_port}
        elif instrument.emulated and instrument.emulator.control_port is not None:
            ports.add(instrument.emulator.control_port)
    if s.tango.database.embedded is not None:
        ports.add(s.tango.database.embedded.port)
    if s.runs.store.embedded is not None:
        ports.add(s.runs.store.embedded.port)
    if s.bridge.mqtt.runs_embedded:
        ports.add(s.bridge.mqtt.broker[1])
    return frozenset(ports)


class StationLauncher:
    def __init__(self, station: LoadedStation):
        self.station = station
        self._station_ports = station_ports(station)
        self.children: list[Child] = []
        self.database_child: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.log_dir = station.data_dir / "log"
        self._owns_run_files = False
        self._starter_servers: list[str] = []
        self._proxies: dict[str, tango.DeviceProxy] = {}  # made while waiting for the devices; kept for status
        self._status_socket: StatusSocket | None = None

    # ------------------------------------------------------------ start-up
    def start(self, timeout_s: float | None = None) -> float:
        """Bring the station up; return the seconds it took until every device answered. On a
        failure (or a stop request) everything started so far is stopped again."""
        timeout_s = startup_deadline_s(self.station) if timeout_s is None else timeout_s
        began = time.monotonic()
        self.preflight()  # a refused start changes nothing: no file, no Tango property
        run_dir(self.station).mkdir(parents=True, exist_ok=True)
        launcher_pid_file(self.station).write_text(f"{os.getpid()}\n")
        self._owns_run_files = True
        self._write_state(ready=False)
        try:
            self._start_database()
            db = connect(self.station.tango_host)
            changes = tango_config.plan(self.station, db)
            for change in changes:
                log.info("config: %s", change)
            tango_config.apply(changes)
            self._start_emulators()
            ph2acf_boards.prepare(self.station)
            self._start_run_store()
            self._start_servers(last=False, deadline=began + timeout_s)
            self._wait_ready(began + timeout_s, self.device_names(interlocks=False))
            self._check_event_ports()  # before anything subscribes: the first subscription binds the event port
            if self._start_servers(last=True, deadline=began + timeout_s):  # its inputs answer already
                self._wait_ready(began + timeout_s, self.device_names())
                self._check_event_ports()
            log.info("every device answers (%d devices) %.1f s after the start", len(self.device_names()),
                     time.monotonic() - began)
            self._start_bridge()
            self._serve_status()
        except BaseException:
            self.stop()
            raise
        elapsed = time.monotonic() - began
        self._write_state(ready=True, startup_s=elapsed)
        log.info("station %s is up in %.2f s (TANGO_HOST=%s)", self.station.name, elapsed, self.station.tango_host)
        return elapsed

    def preflight(self) -> None:
        """Refuse to start, before anything is written, when this station runs already or
        another one holds its ports (a copied station file on the same ports)."""
        station = self.station.station
        pid = running_launcher(self.station)
        if pid is not None and pid != os.getpid():
            raise LaunchError(f"station {self.station.name!r} is already up (launcher PID {pid}); "
                              f"use 'trackerdcs down {self.station.path}' first")
        embedded = station.tango.database.embedded
        if embedded is not None:
            database = EmbeddedDatabase.of(self.station)
            if database.running_pid() is None and (database.answering() or process.port_open(embedded.host, embedded.port)):
                raise LaunchError(f"port {embedded.port} on {embedded.host} (tango.database.embedded) is in use, and not by "
                                  f"this station's database (no live {database.pid_file}): another station or program "
                                  "runs there. Stop it, or choose another port in the station file")
        claims = []
        for name, instrument in station.instruments.items():
            if instrument.emulated and instrument.tcp_address is not None:
                host, port = instrument.tcp_address
                claims += [(host, port, f"emulator of {name}"), (host, instrument.control_port, f"emulator control of {name}")]
            elif instrument.emulated and instrument.emulator.control_port is not None:
                claims.append(("127.0.0.1", instrument.emulator.control_port, f"emulator control of {name}"))
        if self.run_store_wanted():
            embedded = station.runs.store.embedded or EmbeddedRunStore()
            claims.append((embedded.host, embedded.port, "embedded run store (runs.store.embedded)"))
        if station.bridge.enabled and station.bridge.mqtt.runs_embedded and self.bridge_wanted():
            host, port = station.bridge.mqtt.broker
            claims.append((host, port, "embedded MQTT broker"))
        claims += [("127.0.0.1", server.port + offset, f"device server {server.name}{what}")
                   for server in station.servers if server.port
                   for offset, what in ((0, ""), (ZMQ_EVENT_OFFSET, " (ZMQ events)"), (ZMQ_HEARTBEAT_OFFSET, " (ZMQ heartbeats)"))]
        for host, port, what in claims:
            try:
                process.check_port_free(host, port, what)
            except process.PortTaken as exc:
                raise LaunchError(str(exc)) from None

    def _start_database(self) -> None:
        if self.station.station.tango.database.embedded is None:
            if not answering(self.station.tango_host):
                raise LaunchError(f"the external Tango database {self.station.tango_host} does not answer")
            return
        database = EmbeddedDatabase.of(self.station)
        if database.answering():
            log.info("using the Tango database already running on %s", database.tango_host)
            return
        try:
            self.database_child = database.start()
        except (DatabaseError, process.PortTaken) as exc:
            raise LaunchError(str(exc)) from None
        log.info("embedded Tango database on %s (PID %d, %s)", database.tango_host,
                 self.database_child.pid, database.db_file)
        self._write_state(ready=False)

    def _start_emulators(self) -> None:
        for group in emulators.groups(self.station):
            for host, port, what in group.listens:
                try:
                    process.check_port_free(host, port, what)
                except process.PortTaken as exc:
                    raise LaunchError(str(exc)) from None
            child = Child(f"emulator {group.name}", group.args, dict(os.environ, PYTHONUNBUFFERED="1"),
                          self.log_dir / f"emulator-{group.name}.log", ready_check=group.ready)
            self._launch(child)
        deadline = time.monotonic() + 10
        for child in self.children:
            for address in child.ready_check or []:
                while not process.port_open(*address):
                    if not child.running() or time.monotonic() > deadline:
                        raise LaunchError(f"{child.name} did not start; see {child.log_file}")
                    time.sleep(0.05)

    def _start_servers(self, last: bool, deadline: float) -> int:
        """Start the servers without (last=False) or with (last=True) a SafetyInterlock; return how many."""
        if self.station.station.tango.starter is not None:
            return self._servers_by_starter(last, deadline)
        started = 0
        for server in self.station.station.servers:
            if any(d.class_ == "SafetyInterlock" for d in server.devices) != last:
                continue
            started += 1
            executable, instance = server.name.split("/", 1)

            def spec(server=server, executable=executable, instance=instance):
                port = server.port or process.free_port(avoid=self._station_ports)
                args = [sys.executable, "-m", "servers.device_server", executable, instance,
                        "-ORBendPoint", f"giop:tcp:127.0.0.1:{port}"]
                if server.port:  # the station file's fixed ports, as `trackerdcs serve` uses them
                    return args, process.tango_env(self.station.tango_host, server.port + ZMQ_EVENT_OFFSET,
                                                   server.port + ZMQ_HEARTBEAT_OFFSET)
                return args, process.tango_env(self.station.tango_host)

            args, env = spec()
            child = Child(f"server {server.name}", args, env, self.log_dir / f"server-{executable}-{instance}.log",
                          respawn=spec, after_others=last, server=server.name, device=server.devices[0].name)
            self._launch(child)
        return started

    def _starter(self) -> tango.DeviceProxy:
        starter = self.station.station.tango.starter
        proxy = tango.DeviceProxy(f"tango://{self.station.tango_host}/{starter.device}")
        proxy.set_timeout_millis(5000)
        return proxy

    def _servers_by_starter(self, last: bool, deadline: float) -> int:
        """Ask the host's Starter to start the servers of one startup level (those it runs already stay)."""
        starter = self.station.station.tango.starter
        servers = [s.name for s in self.station.station.servers if (tango_config.starter_level(s) == 2) == last]
        if not servers:
            return 0
        answer_by = time.monotonic() + STARTER_WAIT_S
        while True:
            try:
                proxy = self._starter()
                proxy.ping()
                break
            except tango.DevFailed as exc:
                if time.monotonic() > answer_by:
                    raise LaunchError(f"the station's servers are left to Tango Starter, but {starter.device} does not "
                                      f"answer ({exc.args[0].desc.strip().splitlines()[0]}); start it on "
                                      f"{starter.host_name}: TANGO_HOST={self.station.tango_host} "
                                      f"/usr/lib/tango/Starter {starter.host_name}") from None
                time.sleep(0.2)
        proxy.UpdateServersInfo()
        self._await_starter_startup(proxy, deadline)
        running = set(proxy.RunningServers or ())
        for name in servers:
            if name not in running:
                log.info("asking %s to start %s", starter.device, name)
                try:
                    proxy.DevStart(name)
                except tango.DevFailed as exc:
                    # Starter may have started it meanwhile (its own startup levels): running is what we asked for
                    if exc.args[0].reason != "ALREADY_RUNNING":
                        raise
                    log.info("%s: %s runs already", starter.device, name)
        self._starter_servers += servers
        return len(servers)

    @staticmethod
    def _await_starter_startup(proxy: tango.DeviceProxy, deadline: float) -> None:
        """A Starter that has just started starts its controlled servers itself, level by level and
        one at a time (StartServersAtStartup), and is MOVING until they answer. A DevStart meanwhile
        can start a second copy of one: Starter's process list lags by seconds. So wait for that pass
        to end; what it did not start (its state ALARM) is asked for after it."""
        if proxy.state() == tango.DevState.MOVING:
            log.info("waiting for Tango Starter to start its servers (%s)", proxy.status().strip())
        while proxy.state() == tango.DevState.MOVING and time.monotonic() < deadline:
            time.sleep(0.5)

    def run_store_wanted(self) -> bool:
        """The embedded run store runs when a run device (Ph2AcfRunner, IvScanner) records its runs there."""
        station = self.station.station
        return station.runs.store.runs_embedded and any(d.class_ in ("Ph2AcfRunner", "IvScanner")
                                                        for _, d in station.devices())

    def _start_run_store(self) -> None:
        if not self.run_store_wanted():
            return
        embedded = self.station.station.runs.store.embedded or EmbeddedRunStore()
        storage = self.station.data_dir / "runstore"
        storage.mkdir(parents=True, exist_ok=True)
        program = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
        args = [program, "--host", embedded.host, "--port", str(embedded.port), "--storage-path", str(storage)]
        child = Child("run store secantusdb", args, dict(os.environ), self.log_dir / "runstore.log",
                      ready_check=[(embedded.host, embedded.port)])
        self._launch(child)
        deadline = time.monotonic() + 20
        while not process.port_open(embedded.host, embedded.port):
            if not child.running() or time.monotonic() > deadline:
                raise LaunchError(f"the embedded run store (secantusdb) did not start; see {child.log_file}")
            time.sleep(0.05)

    def bridge_wanted(self) -> bool:
        station = self.station.station
        if not station.bridge.enabled:
            return False
        devices = [d for _, d in station.devices()] + list(station.external_devices)
        return any(c.archive or c.publish for d in devices for c in d.attributes.values()) or any(
            d.mqtt.write or d.mqtt.commands for d in devices)

    def _start_bridge(self) -> None:
        if not self.bridge_wanted():
            return
        mqtt = self.station.station.bridge.mqtt
        if mqtt.runs_embedded:
            host, port = mqtt.broker
            try:
                process.check_port_free(host, port, "embedded MQTT broker")
            except process.PortTaken as exc:
                raise LaunchError(str(exc)) from None
            kind, args = broker_command(host, port, run_dir(self.station))
            broker = Child(f"broker {kind}", args, dict(os.environ), self.log_dir / "broker.log", ready_check=[(host, port)])
            self._launch(broker)
            deadline = time.monotonic() + 15
            while not process.port_open(host, port):
                if not broker.running() or time.monotonic() > deadline:
                    raise LaunchError(f"the embedded MQTT broker ({kind}) did not start; see {broker.log_file}")
                time.sleep(0.05)
        health = run_dir(self.station) / "bridge-health.json"
        health.unlink(missing_ok=True)  # a report of an earlier run must not count as this bridge's
        bridge = Child("bridge", [sys.executable, "-m", "bridges", str(self.station.path)],
                       process.tango_env(self.station.tango_host), self.log_dir / "bridge.log")
        self._launch(bridge)
        self._wait_bridge(bridge, health, time.monotonic() + BRIDGE_READY_S)

    @staticmethod
    def _wait_bridge(bridge: Child, health: Path, deadline: float) -> None:
        """Until the bridge's first health report: it is written once every subscription is made,
        so the station is not called up while events would still go unarchived."""
        while True:
            try:
                if json.loads(health.read_text()).get("pid") == bridge.pid:
                    return
            except (OSError, ValueError):
                pass
            if not bridge.running():
                raise LaunchError(f"the bridge exited with code {bridge.proc.returncode} while starting; see {bridge.log_file}")
            if time.monotonic() > deadline:
                raise LaunchError(f"the bridge made no health report within {BRIDGE_READY_S:.0f} s; see {bridge.log_file}")
            time.sleep(0.05)

    def _launch(self, child: Child) -> None:
        if self._stop.is_set():
            raise LaunchError("stop requested while starting")
        child.start()
        self.children.append(child)
        log.info("started %s (PID %d)", child.name, child.pid)
        self._write_state(ready=False)  # `down` finds every child even if this launcher is killed

    def device_names(self, interlocks: bool = True) -> list[str]:
        return [device.name for server, device in self.station.station.devices()
                if interlocks or not any(d.class_ == "SafetyInterlock" for d in server.devices)]

    def _not_answering(self, names: list[str], proxies: dict[str, tango.DeviceProxy]) -> list[str]:
        """Those of ``names`` that do not answer yet. Each device's proxy is made once (a database
        import); a server whose first waiting device does not answer is not asked again this turn
        (its other devices come with it): waiting for 321 devices costs the database little."""
        server_of = {d.name: s.name for s, d in self.station.station.devices()}
        silent, left = set(), []
        for name in names:
            if server_of.get(name) in silent or not device_answers(self.station.tango_host, name, proxies=proxies):
                silent.add(server_of.get(name))
                left.append(name)
        return left

    def _wait_ready(self, deadline: float, names: list[str]) -> None:
        pending = list(names)
        proxies = self._proxies
        while pending:
            for child in self.children:
                if child.running():
                    continue
                if child.respawn is not None and child.startup_retries < 3:
                    # most often a pinned port another process took in the meantime: start again on fresh ports
                    child.startup_retries += 1
                    log.warning("%s exited with code %s while starting; starting it again on fresh ports",
                                child.name, child.proc.returncode)
                    child.args, child.env = child.respawn()
                    child.start()
                    continue
                raise LaunchError(f"{child.name} exited with code {child.proc.returncode}; see {child.log_file}")
            pending = self._not_answering(pending, proxies)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise LaunchError(f"devices not answering: {', '.join(pending)}")
            if self._stop.wait(0.1):
                raise LaunchError(f"stop requested while starting ({len(pending)} device(s) not answering yet)")

    def _serve_status(self) -> None:
        """Answer `trackerdcs status` with the proxies made while waiting for the devices."""
        proxies = Proxies(self.station.tango_host, 1500, known=self._proxies)
        rows = device_status.entries(self.station)
        status = StatusSocket(socket_path(self.station),
                              lambda: [row.as_dict() for row in device_status.read(proxies, rows)])
        if status.start():
            self._status_socket = status

    def _check_event_ports(self) -> None:
        """Every server started answers; its event channel must be on its pinned ports."""
        for child in self.children:
            if child.event_check_pending and child.running():
                try:
                    child.check_event_ports(self.station.tango_host)
                except EventPortError as exc:
                    raise LaunchError(str(exc)) from None

    def _recheck_event_ports(self, child: Child) -> None:
        """A restarted server, once it answers: on a wrong event port it is stopped (and restarted on
        fresh ports by the supervision loop, when its ports are not the station file's)."""
        if not device_answers(self.station.tango_host, child.device):
            return
        try:
            child.check_event_ports(self.station.tango_host)
        except EventPortError as exc:
            log.error("%s; stopping it (PID %d)", exc, child.pid)
            if child.respawn is not None:
                child.args, child.env = child.respawn()
            process.stop_pid(child.pid)
            child.proc.wait(timeout=5)
            child.event_check_pending = False

    # ---------------------------------------------------------- supervising
    def supervise(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            with self._lock:
                for child in self.children:
                    if child.running():
                        if child.event_check_pending and child.restarts:
                            self._recheck_event_ports(child)
                        if now - child.started_at > STABLE_AFTER_S:
                            child.backoff = BACKOFF_START_S
                        continue
                    if child.next_start == 0.0:
                        code = child.proc.returncode if child.proc else None
                        child.next_start = now + child.backoff
                        log.warning("%s (PID %s) exited with code %s; restarting in %.0f s",
                                    child.name, child.pid, code, child.backoff)
                    elif now >= child.next_start:
                        if child.after_others and not self._watched_servers_answer():
                            # as at start: an interlock restarted before the devices it watches answer would
                            # see them UNREACHABLE and trip once its grace period is over
                            child.next_start = now + 0.5
                            continue
                        if child.respawn is not None and child.started_at and now - child.started_at < 5 + child.backoff:
                            child.args, child.env = child.respawn()  # it died at once: its ports may be taken
                        child.start()
                        child.restarts += 1
                        child.next_start = 0.0
                        child.backoff = min(child.backoff * 2, BACKOFF_MAX_S)
                        log.warning("restarted %s (PID %d, restart #%d)", child.name, child.pid, child.restarts)
                        self._write_state(ready=True)

    def _watched_servers_answer(self) -> bool:
        others = [c for c in self.children if c.name.startswith("server ") and not c.after_others]
        return all(c.running() for c in others) and all(
            device_answers(self.station.tango_host, name) for name in self.device_names(interlocks=False))

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._status_socket is not None:
            self._status_socket.close()
            self._status_socket = None
        self._stop_starter_servers()
        with self._lock:
            for child in reversed(self.children):
                if child.running():
                    log.info("stopping %s (PID %d)", child.name, child.pid)
                    process.stop_pid(child.pid)
                    child.proc.wait(timeout=5)
            self.children.clear()
            if self.database_child is not None:
                log.info("stopping the embedded Tango database (PID %d)", self.database_child.pid)
                process.stop_pid(self.database_child.pid)
                self.database_child.wait(timeout=5)
                EmbeddedDatabase.of(self.station).pid_file.unlink(missing_ok=True)
                self.database_child = None
        if self._owns_run_files:  # never the files of a station that runs already (a refused second `up`)
            state_file(self.station).unlink(missing_ok=True)
            if process.read_pid(launcher_pid_file(self.station)) == os.getpid():
                launcher_pid_file(self.station).unlink(missing_ok=True)

    def _stop_starter_servers(self, timeout_s: float = 15.0) -> None:
        """Servers Starter runs for us: Starter stops them; we wait until each process is gone
        (and stop by its PID one that outlives the wait, e.g. when Starter itself is gone)."""
        pids = {}
        for name in reversed(self._starter_servers):
            try:
                pids[name] = connect(self.station.tango_host).get_device_info(f"dserver/{name}").pid
                log.info("asking Starter to stop %s", name)
                self._starter().DevStop(name)
            except (tango.DevFailed, DatabaseError) as exc:
                log.warning("Starter could not stop %s: %s", name, getattr(exc, "args", [exc])[0])
        self._starter_servers = []
        deadline = time.monotonic() + timeout_s
        for name, pid in pids.items():
            while pid and process.pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid and process.pid_alive(pid):
                log.warning("%s (PID %d) still runs after Starter's DevStop: stopping it", name, pid)
                process.stop_pid(pid)

    def _write_state(self, ready: bool, **extra) -> None:
        children = {child.name: child.pid for child in self.children if child.pid}
        if self.database_child is not None:
            children["database"] = self.database_child.pid
        payload = {
            "station": self.station.name,
            "launcher_pid": os.getpid(),
            "tango_host": self.station.tango_host,
            "ready": ready,
            "children": children,
            **extra,
        }
        path = state_file(self.station)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(path)


def device_answers(tango_host: str, name: str, timeout_ms: int = 1000,
                   proxies: dict[str, tango.DeviceProxy] | None = None) -> bool:
    """The device answers and has observed its hardware once (INIT means not yet). ``proxies``
    keeps the proxies made, for the next ask."""
    try:
        proxy = (proxies or {}).get(name)
        if proxy is None:
            proxy = tango.DeviceProxy(f"tango://{tango_host}/{name}")
            proxy.set_timeout_millis(timeout_ms)
            if proxies is not None:
                proxies[name] = proxy
        return proxy.state() != tango.DevState.INIT
    except tango.DevFailed:
        return False


def run_foreground(station: LoadedStation, on_ready=None) -> int:
    launcher = StationLauncher(station)

    def _signal(signum, _frame):
        log.info("signal %d: stopping the station", signum)
        launcher.request_stop()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    try:
        elapsed = launcher.start()
        if on_ready is not None:
            on_ready(launcher, elapsed)
        launcher.supervise()
    except LaunchError as exc:
        log.error("%s", exc)
        return 1
    finally:
        launcher.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m servers.launcher STATION_FILE", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return run_foreground(load_station(args[0]))


if __name__ == "__main__":
    sys.exit(main())
