"""The ceiling: a plain pytango subscriber that only counts change events.

    python bench/count_subscriber.py TANGO_HOST DEVICE:N [DEVICE:N ...]

Prints "ready" when subscribed, then the count each time a line arrives on stdin.
"""

from __future__ import annotations

import sys

import tango


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
    host, specs = sys.argv[1], sys.argv[2:]
    counter = Counter()
    proxies = []
    for spec in specs:
        device, n = spec.rsplit(":", 1)
        proxy = tango.DeviceProxy(f"tango://{host}/{device}")
        proxies.append(proxy)
        for i in range(int(n)):
            proxy.subscribe_event(f"a{i}", tango.EventType.CHANGE_EVENT, counter)
    print("ready", flush=True)
    for _ in sys.stdin:
        print(counter.count, counter.errors, flush=True)


if __name__ == "__main__":
    main()
