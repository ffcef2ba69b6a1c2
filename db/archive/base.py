"""The archive contract shared by every backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from db.archive.reading import Reading


class ArchiveUnavailable(RuntimeError):
    """The archive cannot take the batch now; retry later (the bridge spools meanwhile)."""


class ArchiveRejected(ValueError):
    """The archive refused the batch's content; retrying the same data cannot succeed."""


@dataclass(frozen=True)
class HistoryPoint:
    ts_ns: int
    value: float | int | bool | str | None
    quality: str


class ArchiveWriter(Protocol):
    def write(self, readings: list[Reading]) -> None: ...

    def close(self) -> None: ...


class ArchiveReader(Protocol):
    def history(self, device: str, attribute: str, since_ns: int, until_ns: int, limit: int) -> list[HistoryPoint]: ...

    def close(self) -> None: ...
