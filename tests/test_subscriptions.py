"""devices.subscriptions: events reach the callback without pytango's per-event wrappers.

The direct path leans on where pytango keeps its callback objects; this test
fails (instead of the bridge silently slowing down) when a pytango upgrade
moves them.
"""

from __future__ import annotations

import threading

import tango
from tango.server import Device, attribute, command
from tango.test_context import DeviceTestContext

from devices.subscriptions import EventSubscriptions

from waiting import wait_for


class Pusher(Device):
    def init_device(self):
        super().init_device()
        self.set_change_event("x", True, False)
        self._x = 0.0

    @attribute(dtype=float)
    def x(self):
        return self._x

    @command
    def Bump(self):
        self._x += 1.0
        self.push_change_event("x", self._x)


class Recorder:
    def __init__(self):
        self.values: list[float] = []
        self.threads: set[str] = set()

    def push_event(self, event):
        self.threads.add(threading.current_thread().name)
        if not event.err:
            self.values.append(event.attr_value.value)


def test_events_arrive_through_the_direct_callback():
    with DeviceTestContext(Pusher, process=True) as proxy:
        name = proxy.dev_name()
        client = tango.DeviceProxy(proxy.name() if "://" in proxy.name() else name)
        recorder = Recorder()
        subscriptions = EventSubscriptions(lambda _device: client, tango.Database, watch_period=0)
        subscriptions.add(name, "x", tango.EventType.CHANGE_EVENT, recorder)
        try:
            assert subscriptions.direct == 1, "pytango moved its event callbacks: devices/subscriptions.py needs a look"
            event_id = next(iter(client.__dict__["_subscribed_events"]))
            callback = client.__dict__["_subscribed_events"][event_id][0]
            assert callback.push_event == recorder.push_event
            for _ in range(5):
                proxy.Bump()
            wait_for(lambda: recorder.values[-1:] == [5.0], timeout_s=10, what="the fifth event")
            assert recorder.values == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        finally:
            subscriptions.close()
        assert not client.__dict__["_subscribed_events"], "close() unsubscribed"
