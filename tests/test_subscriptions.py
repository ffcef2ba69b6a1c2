"""devices.subscriptions: events reach the callback without pytango's per-event wrappers, and a
server that comes up after the subscription is subscribed again at once.

The direct path leans on where pytango keeps its callback objects; this test
fails (instead of the bridge silently slowing down) when a pytango upgrade
moves them.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import tango
from pusher_server import Pusher

from db.runtime import process
from db.runtime.tango_database import EmbeddedDatabase
from devices.subscriptions import EventSubscriptions

from device_process import DeviceProcess
from testkit import wait_for


class Recorder:
    def __init__(self):
        self.values: list[float] = []
        self.threads: set[str] = set()
        self.local = threading.local()  # lives as long as the Python thread state the event came on
        self.on_same_state: list[int] = []  # each event: how many came on its thread state, this one included

    def push_event(self, event):
        self.threads.add(threading.current_thread().name)
        self.local.events = getattr(self.local, "events", 0) + 1
        self.on_same_state.append(self.local.events)
        if not event.err:
            self.values.append(event.attr_value.value)


def test_events_arrive_through_the_direct_callback():
    server = DeviceProcess(Pusher)
    with server as proxy:
        name = proxy.dev_name()
        client = tango.DeviceProxy(server.access)
        recorder = Recorder()
        subscriptions = EventSubscriptions(lambda _device: client, tango.Database, watch_period=0)
        subscriptions.add(name, "x", tango.EventType.CHANGE_EVENT, recorder)
        try:
            assert subscriptions.direct == 1, "pytango moved its event callbacks: devices/subscriptions.py needs a look"
            event_id = next(iter(client.__dict__["_subscribed_events"]))
            callback = client.__dict__["_subscribed_events"][event_id][0]
            for _ in range(5):
                proxy.Bump()
            wait_for(lambda: recorder.values[-1:] == [5.0], timeout_s=10, what="the fifth event")
            assert recorder.values == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
            # after an event on cppTango's own thread, it calls the bound method itself
            assert callback.push_event == recorder.push_event
            # and on one kept Python thread state (pytango made a new one for each event, an mmap
            # each): the first event came on the subscribing thread, the others on cppTango's
            assert recorder.on_same_state == [1, 1, 2, 3, 4, 5]
        finally:
            subscriptions.close()
        assert not client.__dict__["_subscribed_events"], "close() unsubscribed"


def test_a_server_that_comes_up_later_is_subscribed_at_once(tmp_path):
    """Subscribed while its server is down; the watcher subscribes again when it is exported
    (Tango's own retry would take up to 10 s, and would not count in ``resubscribed``)."""
    database = EmbeddedDatabase("127.0.0.1", process.free_port(), tmp_path / "db")
    db_process = database.start()
    server = None
    subscriptions = None
    try:
        db = tango.Database("127.0.0.1", database.port)
        info = tango.DbDevInfo()
        info.name, info._class, info.server = "test/pusher/1", "Pusher", "pusher/1"
        db.add_device(info)
        client = tango.DeviceProxy(f"tango://{database.tango_host}/test/pusher/1")
        recorder = Recorder()
        subscriptions = EventSubscriptions(lambda _device: client, lambda: tango.Database("127.0.0.1", database.port),
                                           watch_period=0.2)
        subscriptions.add("test/pusher/1", "x", tango.EventType.CHANGE_EVENT, recorder)
        subscriptions.watch()
        server = process.spawn([sys.executable, str(Path(__file__).with_name("pusher_server.py")), "1", "-ORBendPoint",
                                f"giop:tcp:127.0.0.1:{process.free_port()}"],
                               process.tango_env(database.tango_host), tmp_path / "pusher.log")
        wait_for(lambda: subscriptions.resubscribed >= 1, timeout_s=15, what="subscribed when the server came up")
        assert subscriptions.direct == 1
        tango.DeviceProxy(f"tango://{database.tango_host}/test/pusher/1").Bump()
        wait_for(lambda: 1.0 in recorder.values, timeout_s=5, what="an event from the server that came up")
    finally:
        if subscriptions is not None:
            subscriptions.close()
        if server is not None:
            process.stop_pid(server.pid)
        process.stop_pid(db_process.pid)


FIRST_SUBSCRIPTIONS_AT_ONCE = """
import sys, threading, tango
from devices.subscriptions import EventSubscriptions
access = sys.argv[1]
class Callback:
    def push_event(self, event):
        pass
proxies = [tango.DeviceProxy(access) for _ in range(8)]
subscriptions = [EventSubscriptions(lambda _device, p=p: p, tango.Database, watch_period=0) for p in proxies]
start, errors = threading.Barrier(8), []
def subscribe(i):
    start.wait()
    try:
        subscriptions[i].add(proxies[i].dev_name(), "x", tango.EventType.CHANGE_EVENT, Callback())
    except tango.DevFailed as exc:
        errors.append(exc.args[0].desc.strip())
threads = [threading.Thread(target=subscribe, args=(i,)) for i in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print("FAILED " + repr(errors[:1]) if errors else "OK", flush=True)
import os; os._exit(0)
"""


def test_the_first_subscriptions_of_a_process_made_at_once_all_succeed():
    # cppTango makes its event consumer at a process's first subscription: eight at once (the bridge
    # subscribes 8 devices at once) failed 11 times in 25 fresh processes ("Could not find event
    # consumer for ptr"); each try is a fresh process, as the bridge is at its start
    import subprocess

    server = DeviceProcess(Pusher)
    with server as proxy:
        proxy.ping()
        outcomes = []
        for _ in range(10):
            done = subprocess.run([sys.executable, "-c", FIRST_SUBSCRIPTIONS_AT_ONCE, server.access],
                                  capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])
            outcomes.append(next((line for line in done.stdout.splitlines() if line.startswith(("OK", "FAILED"))),
                                 f"no outcome (exit {done.returncode}): {done.stderr[-300:]}"))
    assert outcomes == ["OK"] * 10, outcomes
