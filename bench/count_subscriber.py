"""The ceiling: a plain pytango subscriber that only counts change events.

    python bench/count_subscriber.py [--direct] TANGO_HOST DEVICE:N [DEVICE:N ...]

--direct hands the events to the counter the way the bridge does
(devices.subscriptions: no pytango per-event wrappers), for the ceiling of
that path.

Prints "ready" when subscribed, then the count each time a line arrives on stdin.
"""

from __future__ import annotations

import sys

import tango

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
from devices.subscriptions import _call_directly  # noqa: E402


class Counter:
    def __init__(self):
        self.count = 0
        self.errors = 0

    def push_event(self, event):
        if event.err:
            self.errors += 1
        else:
            self.count += 1


def main() -> None:
    args = sys.argv[1:]
    direct = args[0] == "--direct"
    host, specs = args[direct], args[direct + 1:]
    counter = Counter()
    proxies = []
    for spec in specs:
        device, n = spec.rsplit(":", 1)
        proxy = tango.DeviceProxy(f"tango://{host}/{device}")
        proxies.append(proxy)
        for i in range(int(n)):
            event_id = proxy.subscribe_event(f"a{i}", tango.EventType.CHANGE_EVENT, counter)
            if direct and not _call_directly(proxy, event_id, counter):
                raise SystemExit("this pytango keeps its event callbacks elsewhere")
    print("ready", flush=True)
    for _ in sys.stdin:
        print(counter.count, counter.errors, flush=True)


if __name__ == "__main__":
    main()
