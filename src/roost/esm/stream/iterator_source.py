"""``IteratorStreamSource``: a ``StreamSource`` over the shard-iterator protocol.

Kinesis and DynamoDB Streams are read the same way (``roost.esm.kinesis.stream_api``):
shards listed, each read by a ``ShardReader``, batches sent as
``{"Records": [...]}``. They differ in the stream adapter, how many records a
read may return and the ``OnFailure`` batch description, which the factories
in ``roost.esm.kinesis.source`` and ``roost.esm.dynamodb.source`` supply.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from roost.esm.connector import SourceRecord, records_payload
from roost.esm.kinesis.reader import ShardReader
from roost.esm.kinesis.stream_api import StreamApi
from roost.esm.shards import IteratorPosition, Shard
from roost.esm.stream.source import BatchInfo

log = logging.getLogger(__name__)

# How often a running mapping reads its stream's retention again.
RETENTION_REFRESH_S = 600.0

BatchDescriber = Callable[[str, str, Sequence[SourceRecord]], BatchInfo]


class IteratorStreamSource:
    """One Kinesis or DynamoDB stream mapping's source."""

    keyed = True

    def __init__(
        self,
        arn: str,
        connect: Callable[[], Awaitable[StreamApi]],
        describe: BatchDescriber,
        max_records_per_read: int,
        *,
        retention_refresh_s: float = RETENTION_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._arn = arn
        self._retention_refresh_s = retention_refresh_s
        self._clock = clock
        self._retention_read_at: float | None = None
        self._connect = connect
        self._describe = describe
        self.max_records_per_read = max_records_per_read
        self._stream: StreamApi | None = None
        self.retention_s: float | None = None

    @property
    def arn(self) -> str:
        """The stream's ARN."""
        return self._arn

    def _api(self) -> StreamApi:
        if self._stream is None:
            raise RuntimeError(f"{self._arn}: open() the source first")
        return self._stream

    async def open(self) -> None:
        """Connect and list the shards once: a missing stream fails here."""
        stream = await self._connect()
        await stream.list_shards()
        self._stream = stream
        await self._read_retention()

    async def refresh_retention(self) -> None:
        """Read the retention again once ``retention_refresh_s`` passed since the last try."""
        if self._stream is None:
            return  # not open: ``open`` reads it
        read_at = self._retention_read_at
        if read_at is None or self._clock() - read_at >= self._retention_refresh_s:
            await self._read_retention()

    async def _read_retention(self) -> None:
        self._retention_read_at = self._clock()
        try:
            self.retention_s = await self._api().retention_s()
        except Exception as error:
            # Unknown, records never expire here (the last reading, if any, stands):
            # retrying too long beats dropping early.
            log.warning("retention of %s not read (%s)", self._arn, error)

    async def list_shards(self) -> list[Shard]:
        """Every shard, open and closed."""
        return await self._api().list_shards()

    def reader(self, shard: Shard, start: IteratorPosition) -> ShardReader:
        """A ``ShardReader`` of ``shard`` from ``start``."""
        return ShardReader(self._api(), shard, start)

    def payload(self, shard: Shard, records: Sequence[SourceRecord]) -> dict[str, Any]:
        """``{"Records": [...]}``."""
        return records_payload(records)

    def batch_info(self, shard: Shard, records: Sequence[SourceRecord]) -> BatchInfo:
        """The ``KinesisBatchInfo`` / ``DDBStreamBatchInfo`` of a failed batch."""
        return self._describe(shard.shard_id, self._arn, records)

    async def checkpointed(self, shard: Shard, position: str) -> None:
        """Kinesis and DynamoDB Streams keep no consumer positions."""

    async def close(self) -> None:
        """Nothing held per source (the clients are shared)."""
