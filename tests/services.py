"""Real services for the tests, each on free loopback ports with its data in a
temporary folder, stopped by PID. A missing binary fails the test that needs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from servers.broker import mosquitto_config

from testkit import free_port


class Service:
    def __init__(self, name: str, args: list[str], folder: Path, port: int):
        self.name, self.args, self.folder, self.port = name, args, folder, port
        self.log = folder / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, ready, timeout_s: float = 30.0, env: dict | None = None, cwd: Path | None = None) -> Service:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, cwd=cwd)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            if ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in {timeout_s} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def binary(name: str, *candidates: str) -> str:
    found = shutil.which(name) or next((c for c in candidates if os.path.exists(c)), None)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run scripts/test.sh, which installs it")
    return found


def tcp_ready(port: int):
    import socket

    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    return ready


def http_ok(url: str):
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as reply:
                return reply.status < 300
        except OSError:
            return False

    return ready


def mosquitto(folder: Path, port: int | None = None) -> Service:
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "mosquitto.conf"
    conf.write_text(mosquitto_config("127.0.0.1", port))  # the station broker's own config
    service = Service("mosquitto", [binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)], folder, port)
    return service.start(tcp_ready(port))


def stack_broker(out: Path, folder: Path) -> Service:
    """The stack's broker as ``trackerdcs stack init`` wrote it into ``out`` (its config, password
    file, ACL and TLS files), run by Debian's mosquitto on a free loopback port."""
    from db.deploy import mosquitto_conf

    port = free_port()
    gen, secrets = out / "generated", out / "secrets"
    paths = {"ca": gen / "tls/ca.crt", "cert": gen / "tls/mqtt.crt", "key": secrets / "tls_mqtt.key",
             "passwd": gen / "mosquitto/passwd", "acl": gen / "mosquitto/acl", "data": folder}
    conf = folder / "mosquitto.conf"
    conf.write_text(mosquitto_conf.render(mosquitto_conf.Listener(port, "127.0.0.1"), {k: str(v) for k, v in paths.items()},
                                          run_as="root" if os.geteuid() == 0 else None, persistence=False))
    broker = Service("mosquitto", [binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)], folder, port)
    return broker.start(tcp_ready(port))


NODERED = Path(__file__).resolve().parent.parent / "docker" / "nodered"


def nodered(folder: Path, mqtt_port: int) -> Service:
    """Node-RED from docker/nodered (npm ci there) with its settings.js, its user folder and flows
    file in ``folder``, talking to the broker on ``mqtt_port``; ready when its admin API answers."""
    red = NODERED / "node_modules" / "node-red" / "red.js"
    if not red.exists():
        raise RuntimeError(f"Node-RED is not installed in {NODERED}: run scripts/test.sh (npm ci there)")
    port = free_port()
    user_dir = folder / "userdir"
    user_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NODE_RED_PORT=str(port), NODE_RED_USER_DIR=str(user_dir),
               NODE_RED_FLOW_FILE=str(user_dir / "flows.json"), MQTT_HOST="127.0.0.1", MQTT_PORT=str(mqtt_port))
    service = Service("node-red", [binary("node", "/usr/bin/node"), str(red), "--settings", str(NODERED / "settings.js")],
                      folder, port)
    return service.start(http_ok(f"http://127.0.0.1:{port}/admin/settings"), 60, env, NODERED)


def influxdb1(folder: Path, port: int | None = None) -> Service:
    port = port or free_port()
    rpc = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "influxdb.conf"
    conf.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{folder}/meta"
[data]
  dir = "{folder}/data"
  wal-dir = "{folder}/wal"
  query-log-enabled = false
[coordinator]
  max-select-buckets = 100000
  max-select-series = 100000
  max-select-point = 50000000
  query-timeout = "30s"
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
""")
    service = Service("influxd", [binary("influxd", "/usr/bin/influxd"), "-config", str(conf)], folder, port)
    return service.start(http_ok(f"http://127.0.0.1:{port}/ping"))


def victoria_metrics(folder: Path, port: int | None = None) -> Service:
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    args = [binary("victoria-metrics", "/usr/bin/victoria-metrics"), f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={folder}/vm", "-search.latencyOffset=0s", "-retentionPeriod=100y"]
    service = Service("victoria-metrics", args, folder, port)
    return service.start(http_ok(f"http://127.0.0.1:{port}/health"))


def influx_query(port: int, database: str, query: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/query?" + urllib.parse.urlencode({"db": database, "q": query, "epoch": "ns"})
    with urllib.request.urlopen(url, timeout=30) as reply:
        body = json.loads(reply.read())
    rows = []
    for result in body["results"]:
        for series in result.get("series", []):
            for values in series["values"]:
                rows.append({**series.get("tags", {}), **dict(zip(series["columns"], values)), "name": series.get("name")})
    return rows




def secantus(folder: Path, port: int | None = None) -> Service:
    """secantusdb, the embedded run store (MongoDB wire protocol), in memory."""
    port = port or free_port()
    exe = binary("secantusd-py", str(Path(sys.executable).parent / "secantusd-py"))
    args = [exe, "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"]
    return Service("secantusdb", args, folder, port).start(tcp_ready(port))
