"""The checked station files, remembered: a command on a 100-module station does not read and check
its 15,000-line file again (0.5 s of CPU, almost all in the bounded YAML reader) when neither the
file nor the code that checks it has changed since a check it passed.

An entry is the file's parsed data as JSON (never pickle: nothing in the cache runs), under
``$XDG_CACHE_HOME/trackerdcs/stations`` (default ``~/.cache``; ``$TRACKERDCS_CACHE_DIR/stations``
when that is set), named by the SHA-256 of the
file's text and of the checking code (the size and modification time of every module of db/
and devices/). Only a file that passed every check is remembered;
on a hit the data is validated again by the schema (pydantic, milliseconds), the cross-checks
are not run. TRACKERDCS_STATION_CACHE=0 turns it off; an unwritable cache is skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger("trackerdcs.station_cache")

ROOT = Path(__file__).resolve().parents[2]
CHECKING_PACKAGES = ("db", "devices")


def enabled() -> bool:
    return os.environ.get("TRACKERDCS_STATION_CACHE", "1") not in ("0", "false", "no")


def folder() -> Path:
    if os.environ.get("TRACKERDCS_CACHE_DIR"):
        return Path(os.environ["TRACKERDCS_CACHE_DIR"]) / "stations"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trackerdcs" / "stations"


def _code_fingerprint() -> str:
    """The checking code: every module of db/ and devices/ (what validation imports), by size and mtime."""
    parts = []
    for package in CHECKING_PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            try:
                stat = file.stat()
            except OSError:
                continue
            parts.append(f"{file.relative_to(ROOT)}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts)


def key(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update(b"\0" + _code_fingerprint().encode())
    return digest.hexdigest()


def recall(text: str) -> object | None:
    """The parsed data of a file that passed its checks with this code, or None."""
    if not enabled():
        return None
    try:
        return json.loads((folder() / f"{key(text)}.json").read_text())
    except (OSError, ValueError):
        return None


def remember(text: str, data: object) -> None:
    if not enabled():
        return
    try:
        if json.loads(json.dumps(data)) != data:  # e.g. a YAML date or a number as a key: checked each time
            return
        target = folder()
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile("w", dir=target, suffix=".tmp", delete=False) as out:
            json.dump(data, out)
        os.replace(out.name, target / f"{key(text)}.json")
    except (OSError, TypeError, ValueError) as exc:  # no cache (read-only home, data JSON cannot hold): checked each time
        log.debug("station cache not written: %s", exc)
