"""What the pipeline hands its chunks to: a small protocol, one object per destination.

The pipeline thread calls every sink in order with each chunk of readings
(each with its route bits), then gives each a ``tick`` once per turn. The
first sinks are ``durable``: the write-ahead log must take a chunk before
anything else sees it, so when a durable sink fails the chunk goes back to
the queue and nothing later runs. A failure of any other sink is counted and
the next sink still gets the chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from db.archive.reading import Reading

TO_ARCHIVE = 1
TO_MQTT = 2

Chunk = Sequence[tuple[Reading, int]]


class Sink(Protocol):
    name: str
    durable: bool

    def take(self, chunk: Chunk) -> None:
        """Handle one chunk, on the pipeline thread."""

    def tick(self, stopping: bool, busy: bool) -> None:
        """Once per turn, after the chunk (batch rotation, the network loop); ``busy``: a chunk came."""
