"""The bridge's health counters, published as numbers (see README: dcs/$bridge/health)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("trackerdcs.bridge.pipeline")


@dataclass
class BridgeStats:
    events_in: int = 0
    event_errors: int = 0
    archived: int = 0
    archive_rejected: int = 0
    published: int = 0
    dropped: int = 0  # only when the in-memory queue overflows (queue_size)
    subscription_errors: dict = field(default_factory=dict)  # "device/attribute" -> Tango's reason, while failing
    pipeline_errors: int = 0  # failures inside the pipeline (logged once each); the readings stay queued or on disk
    archive_lag_ms: float = 0.0
    mqtt_lag_ms: float = 0.0
    archive_commit_ms: list = field(default_factory=list)
    started: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _logged: set = field(default_factory=set, repr=False)

    def failure(self, what: str, exc: BaseException) -> None:
        """A failure inside the pipeline: counted in pipeline_errors, logged once per kind with its traceback."""
        self.pipeline_errors += 1
        signature = (what, type(exc).__name__)
        if signature not in self._logged:
            self._logged.add(signature)
            log.error("%s failed (logged once; later ones are counted in pipeline_errors)", what, exc_info=exc)
