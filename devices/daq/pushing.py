"""Change (and archive) events of the run devices, pushed only when a value changed."""

from __future__ import annotations

import time

import tango


class ChangePusher:
    def __init__(self, device: tango.server.Device, names, archive: bool = False):
        self.device, self.archive = device, archive
        self.pushed: dict[str, object] = {}
        for name in ("State", "Status", *names):
            device.set_change_event(name, True, False)
            if archive and name not in ("State", "Status"):
                device.set_archive_event(name, True, False)

    def state(self, state: tango.DevState, status: str) -> None:
        device = self.device
        if state != device.get_state():
            device.set_state(state)
            device.push_change_event("State", state)
        if status != device.get_status():
            device.set_status(status)
            device.push_change_event("Status", status)

    def values(self, values: dict[str, object]) -> None:
        stamp = time.time()
        for name, value in values.items():
            if self.pushed.get(name, self) == value:
                continue
            self.pushed[name] = value
            self.device.push_change_event(name, value, stamp, tango.AttrQuality.ATTR_VALID)
            if self.archive:
                self.device.push_archive_event(name, value, stamp, tango.AttrQuality.ATTR_VALID)
