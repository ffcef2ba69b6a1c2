"""A tiny Tango device for the subscription tests: ``x`` pushes a change event on each ``Bump``.

Imported by the tests (in a DeviceProcess) and run as a real server:
    python tests/pusher_server.py INSTANCE -ORBendPoint giop:tcp:127.0.0.1:PORT
"""

import sys

from tango.server import Device, attribute, command, run


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


if __name__ == "__main__":
    run((Pusher,), args=["pusher", *sys.argv[1:]])
