"""Bench-only Tango device server: N double attributes pushing change events at a set rate.

    python bench/event_source.py EventSource INSTANCE -ORBendPoint giop:tcp:127.0.0.1:PORT

Device property ``attributes`` (int) says how many attributes a0..aN-1 it has.
``Burst([events_per_second, seconds])`` pushes round-robin change events with
strictly increasing values; ``sent`` counts what was pushed.
"""

from __future__ import annotations

import threading
import time

import tango
from tango import AttrWriteType, DevState
from tango.server import Device, attribute, command, device_property


class EventSource(Device):
    attributes = device_property(dtype=int, default_value=10)

    def init_device(self):
        super().init_device()
        self._names = [f"a{i}" for i in range(self.attributes)]
        self._values = dict.fromkeys(self._names, 0.0)
        self._sent = 0
        self._thread = None
        for name in self._names:
            attr = attribute(name=name, dtype=float, access=AttrWriteType.READ, unit="V", fget=self._read)
            self.add_attribute(attr)
            self.set_change_event(name, True, False)
            self.set_archive_event(name, True, False)
        self.set_change_event("State", True, False)
        self.set_state(DevState.ON)

    def _read(self, attr):
        return self._values[attr.get_name()]

    @attribute(dtype=int)
    def sent(self):
        return self._sent

    @command(dtype_in=[float])
    def Burst(self, args):
        rate, seconds = float(args[0]), float(args[1])
        if self._thread is not None and self._thread.is_alive():
            tango.Except.throw_exception("Busy", "a burst is running", "Burst")
        self._thread = threading.Thread(target=self._burst, args=(rate, seconds), daemon=True)
        self._thread.start()

    @command(dtype_out=bool)
    def Busy(self):
        return self._thread is not None and self._thread.is_alive()

    def _burst(self, rate: float, seconds: float) -> None:
        names = self._names
        count = len(names)
        start = time.monotonic()
        done = 0
        total = int(rate * seconds)
        i = 0
        while done < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while done < due:
                name = names[i % count]
                i += 1
                value = self._values[name] + 1.0
                self._values[name] = value
                self.push_change_event(name, value, time.time(), tango.AttrQuality.ATTR_VALID)
                done += 1
                self._sent += 1
            time.sleep(0.0005)


if __name__ == "__main__":
    import sys

    from tango.server import run

    run((EventSource,), args=sys.argv[1:])
