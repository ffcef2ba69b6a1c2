"""ParallelActions and Liveness in-process: every action is sent at once, a slow or failing one delays none
of the others, the results keep the actions' order; a device with no beat beyond its bound is silent."""

from __future__ import annotations

import threading
import time

import pytest

from devices.safety.actions import ParallelActions
from devices.safety.liveness import Liveness
from devices.safety.rules import Action

pytestmark = pytest.mark.unit


def test_a_slow_and_a_failing_device_delay_no_other_action():
    sent: dict[str, float] = {}
    release = threading.Event()

    def send(device: str, command: str) -> None:
        sent[device] = time.monotonic()
        if device == "slow/hv/1":
            release.wait(5)
        if device == "dead/hv/2":
            raise ConnectionError("device not exported")

    actions = ParallelActions(send, str)
    threading.Timer(1.0, release.set).start()
    started = time.monotonic()
    results = actions.run([Action("slow/hv/1", "Off"), Action("dead/hv/2", "Off")] +
                          [Action(f"box/hv/{i}", "Off") for i in range(10)])
    assert [r["device"] for r in results] == ["slow/hv/1", "dead/hv/2"] + [f"box/hv/{i}" for i in range(10)]
    assert all(sent[f"box/hv/{i}"] - started < 0.2 for i in range(10)), "an HV Off waited for the slow device"
    assert results[0]["result"] == "ok" and results[0]["done"] - results[0]["issued"] >= 0.9
    assert results[1]["result"] == "failed: device not exported"
    assert all(r["result"] == "ok" for r in results[2:])
    actions.close()


def test_liveness_names_a_device_silent_beyond_its_bound_and_when_it_beats_again():
    now = [100.0]
    liveness = Liveness({"demo/lv/1": 3.0, "demo/env/box": 6.0}, clock=lambda: now[0])
    now[0] += 2.9
    assert liveness.check() == (set(), set())
    liveness.beat("demo/env/box")
    now[0] += 0.2  # the LV quiet for 3.1 s, the box for 0.2 s
    assert liveness.check() == ({"demo/lv/1"}, set())
    assert liveness.quiet_for("demo/lv/1") == pytest.approx(3.1)
    liveness.beat("demo/lv/1")
    assert liveness.check() == (set(), {"demo/lv/1"})
    liveness.beat("not/an/input")  # ignored
    now[0] += 10
    liveness.restart()  # e.g. once subscribed: silence counts from now
    assert liveness.check() == (set(), set())
