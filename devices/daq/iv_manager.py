"""IV scans of one bias channel as runs: interlocked, recorded, one at a time (no Tango).

Each scan is a ``runs`` document (run_type ``iv``) with its archive window, a
DCS snapshot at start and end, an ``iv_scans`` document with every point and
the central database's CSV written beside the station's data.
"""

from __future__ import annotations

import getpass
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devices.daq.iv_scan import HvChannel, IvResult, IvScan, IvSettings, central_db_csv
from devices.daq.manager import RunRefused, Snapshot
from devices.daq.run_store import RunStore, RunStoreError, utc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IvConfig:
    device: str
    hv_device: str
    module: str
    polarity: float
    csv_dir: Path
    location: str
    archived: tuple[str, ...] = ()


class IvManager:
    def __init__(self, config: IvConfig, store: RunStore, channel: HvChannel, permit: Callable[[], str],
                 snapshot: Callable[[bool], Snapshot], conditions: Callable[[], tuple[float | None, float | None]],
                 tripped_since: Callable[[float], str | None], on_update: Callable[[], None]):
        self.config, self.store, self.channel = config, store, channel
        self.permit, self.snapshot, self.conditions = permit, snapshot, conditions
        self.tripped_since, self.on_update = tripped_since, on_update
        self.scan: IvScan | None = None
        self.result = IvResult(status="")
        self.settings: IvSettings | None = None
        self.run_number = 0
        self.started = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._watch, name=f"iv {config.device}", daemon=True).start()

    @property
    def running(self) -> bool:
        return self.scan is not None

    def start(self, settings: IvSettings) -> int:
        with self._lock:
            if self.running:
                raise RunRefused(f"Start refused: IV scan run {self.run_number} is still going")
            reason = self.permit()
            if reason:
                raise RunRefused(reason)
            try:
                self.store.check()
                number = self.store.next_run_number(self.config.device)
            except RunStoreError as exc:
                raise RunRefused(f"Start refused: {exc}; a run must be recorded") from None
            settings = settings.model_copy(update={"module": settings.module or self.config.module})
            before = self.snapshot(True)
            self.started = time.time()
            self.run_id = self.store.new_run({
                "device": self.config.device, "run_type": "iv", "run_number": number,
                "calibration": f"IV {settings.scan_type}", "status": "running", "reason": "",
                "t_start": utc(self.started), "t_end": None, "modules": [settings.module],
                "hv_device": self.config.hv_device, "settings": settings.model_dump(),
                "archive": {"start": utc(self.started), "stop": None, "attributes": list(self.config.archived)},
            })
            self.store.add_snapshot(self.run_id, "start", before.taken, before.values, before.interlock)
            self.settings, self.run_number = settings, number
            self.result = IvResult()
            self.scan = IvScan(self.channel, settings, self.config.polarity, self.conditions, self._point)
            threading.Thread(target=self._run, args=(self.scan,), name=f"iv run {number}", daemon=True).start()
            self.on_update()
            return number

    def _point(self, result: IvResult) -> None:
        self.result = result
        self.on_update()

    def abort(self, by: str = "the operator") -> None:
        scan = self.scan
        if scan is None:  # nothing to stop: an interlock action on an idle channel is not an error
            return
        rule = self.tripped_since(self.started)
        scan.abort(f"aborted: {rule}" if rule else f"aborted by {by}")

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            scan = self.scan
            if scan is not None:
                rule = self.tripped_since(self.started)
                if rule:
                    scan.abort(f"aborted: {rule}")

    def stop(self) -> None:
        self._stop.set()
        if self.scan is not None:
            self.scan.abort("aborted: the device server stopped")

    def _run(self, scan: IvScan) -> None:
        result = scan.run()
        if result.status == "aborted" and not result.reason.startswith("aborted"):
            rule = self.tripped_since(self.started)  # the channel went off: was it the interlock?
            result.reason = f"aborted: {rule}" if rule else result.reason
        ended = time.time()
        settings = scan.settings
        csv_path = self.config.csv_dir / (f"IV_{settings.module or 'module'}_run{self.run_number}_"
                                          f"{time.strftime('%Y%m%d_%H%M%S', time.gmtime(self.started))}.csv")
        try:
            self.config.csv_dir.mkdir(parents=True, exist_ok=True)
            csv_path.write_text(central_db_csv(result, settings, self.config.location, getpass.getuser(),
                                               self.started))
            after = self.snapshot(False)
            self.store.add_snapshot(self.run_id, "end", after.taken, after.values, after.interlock)
            temps = [p.temperature for p in result.points if p.temperature is not None]
            self.store.add_iv_scan(self.run_id, {
                "module": settings.module, "hv_device": self.config.hv_device, "t_start": utc(self.started),
                "scan_type": settings.scan_type, "settings": settings.model_dump(),
                "points": {"V": [p.voltage for p in result.points], "I": [p.current for p in result.points],
                           "I_std": [p.current_std for p in result.points],
                           "T": [p.temperature for p in result.points], "RH": [p.humidity for p in result.points],
                           "t": [utc(p.time) for p in result.points]},
                "result": {"status": result.status, "reason": result.reason, "breakdown_v": result.breakdown_v,
                           "avg_t": sum(temps) / len(temps) if temps else None},
                "csv": str(csv_path), "run_type": "IV_TEST"})
            self.store.update_run(self.run_id, status=result.status, reason=result.reason, t_end=utc(ended),
                                  **{"archive.stop": utc(ended)}, files={"csv": str(csv_path)},
                                  points=len(result.points))
        except Exception as exc:  # the scan is over (ramped down); say why its record is incomplete
            log.exception("recording IV run %s failed", self.run_number)
            result.reason += f"; recording failed: {exc}"
        with self._lock:
            self.result = result
            self.scan = None
        self.on_update()
