"""One ``DeviceProxy`` per device, made on first use and kept, for any number of threads.

A proxy costs a database import and a connection to its server, so the bridge, the launcher
and the status readers each keep theirs. It is made outside the lock (an import can take the
database's timeout); when two threads make one at once, both get the first one kept.
"""

from __future__ import annotations

import threading

import tango


class Proxies:
    def __init__(self, tango_host: str, timeout_ms: int | None = None,
                 known: dict[str, tango.DeviceProxy] | None = None):
        self.tango_host, self.timeout_ms = tango_host, timeout_ms
        self._proxies = dict(known or {})
        self._lock = threading.Lock()

    def __call__(self, name: str) -> tango.DeviceProxy:
        with self._lock:
            proxy = self._proxies.get(name)
        if proxy is None:
            proxy = tango.DeviceProxy(f"tango://{self.tango_host}/{name}")
            if self.timeout_ms is not None:
                proxy.set_timeout_millis(self.timeout_ms)
            with self._lock:
                proxy = self._proxies.setdefault(name, proxy)
        return proxy
