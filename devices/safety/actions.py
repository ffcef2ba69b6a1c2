"""A trip's commands, sent to their devices all at once.

Each action runs on a worker of its own, so a device that is slow or dead (its command
waiting for the client timeout) delays only its own action: a dew-point trip switches off
every HV of the box together, whatever else the rule commands first. Tango knows nothing
here: ``send(device, command)`` does the call and raises on failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from devices.safety.rules import Action


class ParallelActions:
    def __init__(self, send: Callable[[str, str], None], describe: Callable[[Exception], str], workers: int = 64):
        self._send, self._describe = send, describe
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="interlock-action")

    def _one(self, action: Action) -> dict:
        issued = time.time()
        try:
            self._send(action.device, action.command)
            result = "ok"
        except Exception as exc:  # noqa: BLE001 - every failure is recorded with the trip, none stops the others
            result = f"failed: {self._describe(exc)}"
        return {"device": action.device, "command": action.command, "issued": issued, "result": result,
                "done": time.time()}

    def start(self, actions: Sequence[Action]) -> list[Future]:
        """Send every action at once, without waiting: each future's result is the action's
        record (device, command, issued, result, done)."""
        return [self._pool.submit(self._one, a) for a in actions]

    def run(self, actions: Sequence[Action]) -> list[dict]:
        """Send every action at once; their records in the actions' order, once all have ended
        (each within its device's timeout)."""
        return [f.result() for f in self.start(actions)]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
