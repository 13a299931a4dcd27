"""``ShardReader``: reads one shard in order, from a starting position or a checkpoint.

The reader owns the shard iterator and the position (the sequence number of
the last record it handed out); the caller owns the checkpoint (what was
processed). It handles what a shard throws at a long-running reader:

- an expired iterator (Kinesis: 5 minutes, DynamoDB Streams: 15) is
  re-acquired ``AFTER_SEQUENCE_NUMBER`` the last record read, or at the
  starting position when none was read yet. ``LATEST`` is not taken again
  then (the tip has moved on, past records added while the first iterator
  idled): on Kinesis the reader asks ``AT_TIMESTAMP`` the moment it took the
  first one; DynamoDB Streams has no such iterator, so there a new ``LATEST``
  it is, and what arrived during the pause is skipped;
- a trimmed position (DynamoDB Streams' ``TrimmedDataAccessException``)
  restarts at ``TRIM_HORIZON``: what was trimmed is gone;
- throttling backs off exponentially (and ``read`` returns empty, so the
  caller keeps control); the next successful read resets the delay;
- a closed shard read to its end (``NextShardIterator`` null) is
  ``finished``: the caller moves on to its children.

The first iterator is taken at the first ``read`` (so ``LATEST`` means
"after what the shard holds then"). moto never answers a null
``NextShardIterator``, so a shard the last listing showed closed also counts
as finished once an empty page comes back at or past its
``EndingSequenceNumber`` (``update_shard`` passes a fresh listing in).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from roost.esm.connector import SourceRecord
from roost.esm.kinesis.stream_api import (
    ExpiredIteratorError,
    RecordsPage,
    StreamApi,
    ThrottledError,
    TrimmedDataError,
)
from roost.esm.shards import IteratorPosition, IteratorType, Shard, sequence_key
from roost.esm.stream.source import ShardRead

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReaderSettings:
    """How a reader backs off when the shard's read throughput is exceeded."""

    first_backoff_s: float = 0.2
    max_backoff_s: float = 5.0


class ShardReader:
    """Reads one shard of a stream; one reader per shard a poller holds."""

    def __init__(
        self,
        stream: StreamApi,
        shard: Shard,
        start: IteratorPosition,
        settings: ReaderSettings | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if start.type is IteratorType.AT_TIMESTAMP and not stream.supports_at_timestamp:
            raise ValueError(f"{stream.arn} does not support AT_TIMESTAMP iterators")
        self._stream = stream
        self._shard = shard
        self._start = start
        self._settings = settings or ReaderSettings()
        self._sleep = sleep
        self._clock = clock
        self._iterator: str | None = None
        self._last_sequence_number = start.sequence_number if _is_after(start) else None
        self._finished = False
        self._backoff_s = 0.0
        self.throttles = 0
        self.expired_iterators = 0

    @property
    def shard(self) -> Shard:
        """The shard as last listed."""
        return self._shard

    @property
    def last_sequence_number(self) -> str | None:
        """The last record handed out (or the checkpoint started after); None before any."""
        return self._last_sequence_number

    @property
    def finished(self) -> bool:
        """Whether the shard is closed and read to its end."""
        return self._finished

    def update_shard(self, shard: Shard) -> None:
        """A fresh listing of the shard (it may have closed since)."""
        if shard.shard_id != self._shard.shard_id:
            raise ValueError(f"{shard.shard_id} is not {self._shard.shard_id}")
        self._shard = shard

    def seek(self, position: IteratorPosition) -> None:
        """Read from ``position`` next (a rewind to a checkpoint after a failed batch)."""
        if position.type is IteratorType.AT_TIMESTAMP and not self._stream.supports_at_timestamp:
            raise ValueError(f"{self._stream.arn} does not support AT_TIMESTAMP iterators")
        self._start = position
        self._iterator = None
        self._last_sequence_number = position.sequence_number if _is_after(position) else None
        self._finished = False

    async def read(self, limit: int) -> ShardRead:
        """Up to ``limit`` records after the last one handed out (none once finished)."""
        if self._finished:
            return ShardRead(finished=True)
        try:
            page = await self._get_records(limit)
        except ThrottledError:
            return await self._throttled()
        self._backoff_s = 0.0
        records = self._fresh(page.records)
        if records:
            self._last_sequence_number = records[-1].record_id
        if page.next_iterator is None or self._at_closed_end(page):
            self._finished = True
            self._iterator = None
        else:
            self._iterator = page.next_iterator
        return ShardRead(
            records=records,
            finished=self._finished,
            millis_behind_latest=page.millis_behind_latest,
        )

    async def close(self) -> None:
        """Nothing to release: the stream's clients are shared."""

    async def _get_records(self, limit: int) -> RecordsPage:
        shard_id = self._shard.shard_id
        if self._iterator is None:
            self._iterator = await self._acquire()
        try:
            return await self._stream.get_records(shard_id, self._iterator, limit)
        except ExpiredIteratorError:
            # Iterators live minutes; a slow batch or a long pause outlives them.
            self.expired_iterators += 1
            log.info("iterator of %s in %s expired; re-acquiring", shard_id, self._stream.arn)
        except TrimmedDataError:
            log.warning(
                "%s in %s was trimmed past our position; restarting at TRIM_HORIZON",
                shard_id,
                self._stream.arn,
            )
            self.seek(IteratorPosition.trim_horizon())
        self._iterator = await self._acquire()
        return await self._stream.get_records(shard_id, self._iterator, limit)

    async def _acquire(self) -> str:
        position = self._start
        if self._last_sequence_number is not None:
            position = IteratorPosition.after(self._last_sequence_number)
        elif position.type is IteratorType.LATEST and self._stream.supports_at_timestamp:
            # Taken before asking, so a record that lands meanwhile is read
            # again later rather than skipped.
            self._start = IteratorPosition.at_timestamp(self._clock())
        return await self._stream.get_shard_iterator(self._shard.shard_id, position)

    async def _throttled(self) -> ShardRead:
        self.throttles += 1
        settings = self._settings
        doubled = self._backoff_s * 2 or settings.first_backoff_s
        self._backoff_s = min(settings.max_backoff_s, doubled)
        await self._sleep(self._backoff_s)
        return ShardRead(throttled=True)

    def _fresh(self, records: Sequence[SourceRecord]) -> list[SourceRecord]:
        # A re-acquired iterator may overlap what was already handed out.
        if self._last_sequence_number is None:
            return list(records)
        last = sequence_key(self._last_sequence_number)
        return [record for record in records if sequence_key(record.record_id) > last]

    def _at_closed_end(self, page: RecordsPage) -> bool:
        end = self._shard.ending_sequence_number
        if end is None or page.records:
            return False
        if self._last_sequence_number is not None:
            return sequence_key(self._last_sequence_number) >= sequence_key(end)
        return page.millis_behind_latest == 0


def _is_after(position: IteratorPosition) -> bool:
    return position.type is IteratorType.AFTER_SEQUENCE_NUMBER
