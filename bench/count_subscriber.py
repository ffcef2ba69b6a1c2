"""The ceiling: a plain pytango subscriber that only counts change events.

    python bench/count_subscriber.py [--direct] TANGO_HOST DEVICE:N [DEVICE:N ...]

--direct hands the events to the counter the way the bridge does
(devices.subscriptions: no pytango per-event wrappers), for the ceiling of
that path.

Prints "ready" when subscribed, then on each line on stdin: the count, the errors, and the
p50 and p99 latency in ms (the event's Tango timestamp -> this callback, one event in ten;
reset at each line): what the event channel alone costs, before any consumer's work.
"""

from __future__ import annotations

import sys
import time

import tango

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
from devices.subscriptions import _call_directly  # noqa: E402

SAMPLE_EVERY = 10


class Counter:
    def __init__(self):
        self.count = 0
        self.errors = 0
        self.latency_ms: list[float] = []

    def push_event(self, event):
        if event.err:
            self.errors += 1
            return
        self.count += 1
        if self.count % SAMPLE_EVERY == 0:
            self.latency_ms.append((time.time() - event.attr_value.time.totime()) * 1e3)

    def percentiles(self) -> tuple[float, float]:
        lat, self.latency_ms = sorted(self.latency_ms), []
        if not lat:
            return 0.0, 0.0
        return lat[len(lat) // 2], lat[min(len(lat) - 1, int(0.99 * len(lat)))]


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
        p50, p99 = counter.percentiles()
        print(counter.count, counter.errors, f"{p50:.2f}", f"{p99:.2f}", flush=True)


if __name__ == "__main__":
    main()
