"""One driver object per instrument inside a server process.

Channels of one HMP4040 are separate Tango devices but must share one
serialised connection; the pool hands every channel of a resource the same
driver and closes it when the last channel lets go.
"""

from __future__ import annotations

import threading

from devices.drivers.power_supply import PowerSupplyDriver
from devices.models import open_driver


class DriverPool:
    def __init__(self):
        self._lock = threading.Lock()
        self._drivers: dict[str, tuple[PowerSupplyDriver, int]] = {}

    def acquire(self, model: str, resource: str, timeout_s: float) -> PowerSupplyDriver:
        with self._lock:
            if resource in self._drivers:
                driver, users = self._drivers[resource]
                if driver.model != model:
                    raise ValueError(f"{resource} is already open as a {driver.model}, not a {model}")
            else:
                driver, users = open_driver(model, resource, timeout_s, "PowerSupplyChannel"), 0
            self._drivers[resource] = (driver, users + 1)
            return driver

    def release(self, resource: str) -> None:
        with self._lock:
            if resource not in self._drivers:
                return
            driver, users = self._drivers[resource]
            if users <= 1:
                del self._drivers[resource]
                driver.close()
            else:
                self._drivers[resource] = (driver, users - 1)
