"""One Tango device in a fresh Python process: ``with DeviceProcess(cls, properties) as proxy``.

The child is started by exec (``subprocess``), never by fork, and runs the device in a
``DeviceTestContext`` (no database) of its own. ``DeviceTestContext(process=True)`` forks
instead: the child is a copy of a pytest process whose earlier tests left omniORB, Tango
event and pymongo threads running, and a lock one of them held at the fork stays held in
the child for ever. A clean-clone CI run had such a child never finish its shutdown
(``Device server failed to exit cleanly``) in a test that passes on its own.

The child hands its device's address back on a pipe of its own (``access_fd``), never on
stdout: Tango's C++ writes "Ready to accept request" there too, and a clean-clone CI run had
the two interleaved into one unusable name.

Leaving the ``with`` closes the child's stdin: it leaves its context (the device's
``delete_device`` runs) and exits. A child that does not exit within the timeout is
killed and reported, with its output: a stuck shutdown is a defect, not noise.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import subprocess
import sys
import threading
from pathlib import Path

import tango

TESTS = Path(__file__).resolve().parent


class DeviceProcess:
    def __init__(self, device_class: type, properties: dict | None = None, device_name: str | None = None,
                 timeout_s: float = 30.0):
        self.spec = {"class": f"{device_class.__module__}:{device_class.__qualname__}",
                     "properties": properties or {}, "device_name": device_name, "timeout": timeout_s}
        self.timeout_s = timeout_s
        self.output: list[str] = []
        self.proc: subprocess.Popen | None = None
        self._drainer: threading.Thread | None = None
        self.access = ""

    def __enter__(self) -> tango.DeviceProxy:
        path = os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])
        reader, writer = os.pipe()  # the access string's own channel: Tango writes to stdout from C++ as well
        try:
            self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                         env=dict(os.environ, PYTHONPATH=path), pass_fds=(writer,))
        finally:
            os.close(writer)
        with os.fdopen(reader, "r") as channel:
            self.proc.stdin.write(json.dumps({**self.spec, "access_fd": writer}) + "\n")
            self.proc.stdin.flush()
            self._drainer = threading.Thread(target=self._drain, daemon=True, name="device-process output")
            self._drainer.start()
            ready, _, _ = select.select([channel], [], [], self.timeout_s + 5)
            self.access = channel.readline().strip() if ready else ""
        if not self.access:
            self._stop()
            raise RuntimeError(f"the device {self.spec['class']} did not start:\n{self.log()}")
        return tango.DeviceProxy(self.access)

    def __exit__(self, *exc) -> None:
        self._stop()

    def log(self) -> str:
        return "".join(self.output[-60:])

    def _drain(self) -> None:  # the child's output, read all along so that a full pipe never blocks it
        for line in self.proc.stdout:
            self.output.append(line)

    def _stop(self) -> None:
        proc = self.proc
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(self.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise RuntimeError(f"the device server {self.spec['class']} did not exit within {self.timeout_s} s "
                               f"after its stdin closed (stuck in shutdown):\n{self.log()}") from None
        finally:
            self._drainer.join(10)
            proc.stdout.close()


def main() -> None:
    from tango.test_context import DeviceTestContext

    spec = json.loads(sys.stdin.readline())
    module, name = spec["class"].split(":")
    device_class = getattr(importlib.import_module(module), name)
    extra = {"device_name": spec["device_name"]} if spec["device_name"] else {}
    context = DeviceTestContext(device_class, properties=spec["properties"], timeout=spec["timeout"],
                                host="127.0.0.1", **extra)
    with context:
        with os.fdopen(spec["access_fd"], "w") as channel:  # closed at once: the parent reads one line
            channel.write(context.get_device_access() + "\n")
        sys.stdin.read()  # until the parent closes it
    sys.stdout.flush()


if __name__ == "__main__":
    main()
