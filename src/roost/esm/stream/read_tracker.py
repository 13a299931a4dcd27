"""``ReadTracker``: turns records done in any order into checkpoint advances in shard order.

With ``ParallelizationFactor`` above 1 a shard's records are spread over lanes
by partition key, so one read's records finish in several batches, in any
order, and a batch mixes records of several reads. The checkpoint manager
(``roost.esm.stream_checkpoint``) advances by tickets in read order; this
registers each read as one ticket and completes it once its last record is
done (invoked successfully, given up to ``OnFailure``, or filtered out).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from roost.esm.connector import SourceRecord
from roost.esm.stream_checkpoint import StreamCheckpointManager


@dataclass
class _Read:
    ticket: int
    remaining: int


class ReadTracker:
    """Counts what is left of each read of one shard; completes its ticket at zero."""

    def __init__(self, checkpoint: StreamCheckpointManager) -> None:
        self._checkpoint = checkpoint
        self._reads: dict[str, _Read] = {}  # record id -> the read it came in

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

    async def done(self, records: Iterable[SourceRecord]) -> bool:
        """``records`` are finished; the checkpoint moves as far as it may.

        False if the checkpoint could not be written (lease lost, fenced, store
        failing): it stays pending and the next call tries again.
        """
        completed: list[int] = []
        for record in records:
            read = self._reads.pop(record.record_id, None)
            if read is None:
                continue  # already done (a record is done once)
            read.remaining -= 1
            if read.remaining == 0:
                completed.append(read.ticket)
        written = True
        for ticket in completed:
            written = await self._checkpoint.complete(ticket) and written
        return written
