"""The in-memory buffer where a poller filters records and forms batches.

Records read by the connector land here (the talk's in-memory queue, a view of
the source that spares it extra reads). Records no filter accepts are handed
back at once, to be committed without an invoke. The rest form a batch, which
is ready when the first of Lambda's three conditions holds:

- ``BatchSize`` records are waiting;
- the batching window (``MaximumBatchingWindowInSeconds``, counted from the
  first record buffered) has passed; with no window, as soon as a read returned
  anything;
- the next record would push the invoke payload past 6 MB (the sync invoke
  limit), which splits the batch: the rest waits for the next one.

One buffer belongs to one batch loop; records keep the order they were read in.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from roost.esm.connector import SourceRecord
from roost.esm.filtering import FilterCriteria
from roost.esm.mapping import MappingSettings

# Lambda's synchronous invoke payload limit (the request), 6 MB.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# '{"Records":[' and ']}' around the records; one comma between two of them.
ENVELOPE_BYTES = len('{"Records":[]}')
DEFAULT_BATCH_SIZE = 10


@dataclass(frozen=True)
class BatchPolicy:
    """When a batch is ready: size, window and payload bound."""

    batch_size: int = DEFAULT_BATCH_SIZE
    window_s: float = 0.0
    max_payload_bytes: int = MAX_PAYLOAD_BYTES

    @classmethod
    def of(
        cls, settings: MappingSettings, max_payload_bytes: int = MAX_PAYLOAD_BYTES
    ) -> BatchPolicy:
        """The policy a mapping's settings describe."""
        return cls(
            batch_size=settings.batch_size or DEFAULT_BATCH_SIZE,
            window_s=float(settings.maximum_batching_window_s or 0),
            max_payload_bytes=max_payload_bytes,
        )


def payload_bytes(records: Iterable[SourceRecord]) -> int:
    """The size of ``{"Records": [...]}`` holding ``records`` (compact JSON)."""
    sizes = [record.size_bytes for record in records]
    return ENVELOPE_BYTES + sum(sizes) + max(0, len(sizes) - 1)


class RecordBuffer:
    """Filters incoming records and hands out batches by a ``BatchPolicy``."""

    def __init__(
        self,
        policy: BatchPolicy,
        criteria: FilterCriteria | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._criteria = criteria
        self._clock = clock
        self._records: deque[SourceRecord] = deque()
        self._first_at: float | None = None

    def reconfigure(self, policy: BatchPolicy, criteria: FilterCriteria | None) -> None:
        """New settings (an update of the mapping); records already buffered stay."""
        self.policy = policy
        self._criteria = criteria

    @property
    def pending(self) -> int:
        """Records waiting for a batch."""
        return len(self._records)

    def room(self) -> int:
        """How many records a batch could still take by count."""
        return max(0, self.policy.batch_size - len(self._records))

    def add(self, records: Iterable[SourceRecord]) -> list[SourceRecord]:
        """Buffer the records a filter accepts; return the ones none accepts."""
        dropped: list[SourceRecord] = []
        for record in records:
            if self._criteria is not None and not self._criteria.matches(record.event_record):
                dropped.append(record)
                continue
            if self._first_at is None:
                self._first_at = self._clock()
            self._records.append(record)
        return dropped

    def _batch_length(self) -> int:
        """How many of the buffered records the next batch takes (at least one)."""
        size = ENVELOPE_BYTES
        count = 0
        for record in self._records:
            extra = record.size_bytes + (1 if count else 0)
            if count >= self.policy.batch_size:
                break
            if count and size + extra > self.policy.max_payload_bytes:
                break
            size += extra
            count += 1
        return count

    def full(self) -> bool:
        """Whether the next batch is complete by count or by payload size."""
        length = self._batch_length()
        return length > 0 and (length >= self.policy.batch_size or length < len(self._records))

    def remaining_window_s(self) -> float:
        """Seconds until the batching window of the buffered records closes (0: closed)."""
        if self._first_at is None:
            return self.policy.window_s
        return max(0.0, self._first_at + self.policy.window_s - self._clock())

    def ready(self) -> bool:
        """Whether a batch should be invoked now."""
        if not self._records:
            return False
        return self.full() or self.remaining_window_s() <= 0

    def take(self) -> list[SourceRecord]:
        """Remove and return the next batch (empty if nothing is buffered)."""
        batch = [self._records.popleft() for _ in range(self._batch_length())]
        # What stays was read later: its window starts now.
        self._first_at = self._clock() if self._records else None
        return batch

    def remove(self, picked: Callable[[SourceRecord], bool]) -> list[SourceRecord]:
        """Remove and return the buffered records ``picked`` chooses, in their order."""
        taken = [record for record in self._records if picked(record)]
        if taken:
            self._records = deque(record for record in self._records if not picked(record))
            if not self._records:
                self._first_at = None
        return taken

    def drain(self) -> list[SourceRecord]:
        """Remove and return everything buffered (the loop is stopping)."""
        records = list(self._records)
        self._records.clear()
        self._first_at = None
        return records
