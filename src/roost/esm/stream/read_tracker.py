"""``ReadTracker``: turns records done in any order into checkpoint advances in shard order.

With ``ParallelizationFactor`` above 1 a shard's records are spread over lanes
by partition key, so one read's records finish in several batches, in any
order, and a batch mixes records of several reads. The checkpoint manager
(``roost.esm.stream_checkpoint``) advances by tickets in read order; this
registers each read as one ticket and completes it once its last record is
done (invoked successfully, given up to ``OnFailure``, or filtered out).

The durable write trails the lanes: ``done`` moves the position in memory
and a single background flusher writes the newest position (one write at a
time, coalescing whatever finished meanwhile), so a lane invokes its next
batch while the checkpoint of the last one is being fsynced. A crash before
the write only replays records, which at-least-once allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from roost.esm.connector import SourceRecord
from roost.esm.stream_checkpoint import StreamCheckpointManager


@dataclass
class _Read:
    ticket: int
    remaining: int


class ReadTracker:
    """Counts what is left of each read of one shard; completes its ticket at zero."""

    def __init__(
        self,
        checkpoint: StreamCheckpointManager,
        on_written: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._checkpoint = checkpoint
        self._on_written = on_written
        self._reads: dict[str, _Read] = {}  # record id -> the read it came in
        self._flusher: asyncio.Task[None] | None = None
        self._dirty = False

    @property
    def outstanding(self) -> int:
        """Records read and not yet done."""
        return len(self._reads)

    def begin(self, records: Sequence[SourceRecord]) -> None:
        """A read brought ``records`` (in shard order, at least one)."""
        ticket = self._checkpoint.begin(records[-1].record_id)
        read = _Read(ticket, len(records))
        for record in records:
            self._reads[record.record_id] = read

    async def done(self, records: Iterable[SourceRecord]) -> None:
        """``records`` are finished; the checkpoint moves as far as it may, soon."""
        completed = False
        for record in records:
            read = self._reads.pop(record.record_id, None)
            if read is None:
                continue  # already done (a record is done once)
            read.remaining -= 1
            if read.remaining == 0:
                self._checkpoint.mark_done(read.ticket)
                completed = True
        if completed:
            self._dirty = True
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        # A failed write leaves the position pending: the next completion retries it.
        while self._dirty:
            self._dirty = False
            before = self._checkpoint.position
            await self._checkpoint.flush()
            after = self._checkpoint.position
            if self._on_written is not None and after is not None and after != before:
                await self._on_written(after)

    async def settle(self) -> None:
        """Wait until the position done so far was written (or its write failed)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.gather(self._flusher, return_exceptions=True)
