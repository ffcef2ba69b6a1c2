"""Reading the archive back: bounded time ranges, CSV and PNG output."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from db.archive.base import HistoryPoint

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_RANGE_S = 366 * 86400
LATEST_NS = 2**63 - 1  # an archive timestamp is a signed 64-bit count of ns: the year 2262
PLOT_FORMATS = (".png", ".svg", ".pdf")


def parse_time(text: str, now_s: float | None = None) -> int:
    """'1h' / '30m' / '2d' ago, 'now', or an ISO 8601 time -> ns since the epoch."""
    now_s = time.time() if now_s is None else now_s
    text = text.strip()
    if text == "now":
        return int(now_s * 1e9)
    match = _DURATION.match(text)
    if match:
        ns = int((now_s - float(match.group(1)) * _UNIT_S[match.group(2)]) * 1e9)
    else:
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.astimezone()
            ns = int(moment.timestamp() * 1e9)
        except (ValueError, OverflowError, OSError):
            raise ValueError(f"not a time: {text!r} (use e.g. 1h, 30m, 2d, now or 2026-11-25T14:00:00)") from None
    if not 0 <= ns <= LATEST_NS:
        raise ValueError(f"{text!r} is outside the times an archive holds (1970 to 2262)")
    return ns


def check_plot_path(path: str) -> None:
    """Before anything is read: the plot can be written where asked, in a format matplotlib writes."""
    target = Path(path)
    if target.suffix.lower() not in PLOT_FORMATS:
        raise ValueError(f"--plot {path}: the name must end in {', '.join(PLOT_FORMATS)}")
    if not target.parent.is_dir():
        raise ValueError(f"--plot {path}: the folder {target.parent} does not exist")


def check_range(since_ns: int, until_ns: int) -> None:
    if until_ns <= since_ns:
        raise ValueError("the time range is empty: --until must be after --since")
    if (until_ns - since_ns) / 1e9 > MAX_RANGE_S:
        raise ValueError("the time range is longer than a year; ask for less")


def iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_csv(points: list[HistoryPoint]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", "ts_ns", "value", "quality"])
    for p in points:
        writer.writerow([iso(p.ts_ns), p.ts_ns, p.value, p.quality])
    return out.getvalue()


def plot_png(points: list[HistoryPoint], title: str, unit: str, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib (a dependency of tracker-dcs): pip install -e .") from None
    numeric = [(datetime.fromtimestamp(p.ts_ns / 1e9), float(p.value)) for p in points
               if isinstance(p.value, (int, float))]
    figure, axes = plt.subplots(figsize=(10, 4), dpi=100)
    if numeric:
        axes.step([t for t, _ in numeric], [v for _, v in numeric], where="post")
    axes.set_title(title)
    axes.set_ylabel(unit or "value")
    axes.grid(True, alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
