"""The embedded database tells Starter of changes from one thread (db/runtime/databaseds.py):
the caller never waits for Starter, and a failure is logged and dropped (the thread goes on)."""

from __future__ import annotations

import threading
import time

import pytest

from db.runtime.databaseds import StarterNotifier

pytestmark = pytest.mark.unit


def test_notify_returns_at_once_and_a_failing_starter_is_dropped():
    calls, release = [], threading.Event()

    def send(db, hosts):
        release.wait(5)  # a Starter that takes its time
        calls.append((db, hosts))
        if hosts == ["down"]:
            raise AttributeError("UpdateServersInfo")  # what pytango raises for a Starter not exported

    notifier = StarterNotifier(send)
    began = time.monotonic()
    notifier.notify("db", ["down", "vm", " "])
    notifier.notify("db", ["vm"])
    assert time.monotonic() - began < 0.5, "notify waited for Starter"
    release.set()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    hosts = [h for _, h in calls]
    assert hosts[0] == ["down"] and ["vm"] in hosts and [" "] not in hosts
    notifier.notify("db", ["after"])  # the thread survived the failure
    deadline = time.monotonic() + 5
    while ["after"] not in [h for _, h in calls] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ["after"] in [h for _, h in calls]
