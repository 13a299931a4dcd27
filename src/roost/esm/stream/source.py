"""The stream source port: what a shard worker needs from Kinesis, DynamoDB Streams or Kafka.

A ``StreamSource`` is one mapping's stream: it lists the shards (Kafka: the
partitions of the mapping's topics, as ``Shard``s named ``topic-N`` that
never close), hands out a ``PartitionReader`` per shard, builds the invoke
event of a batch in its source's envelope, and describes a batch for an
``OnFailure`` record. Positions are opaque decimal strings (sequence numbers;
Kafka offsets), compared with ``shards.sequence_key``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from roost.esm.connector import SourceRecord
from roost.esm.mapping import EventSourceMapping
from roost.esm.shards import IteratorPosition, Shard


@dataclass(frozen=True)
class ShardRead:
    """What one ``read`` brought: records in shard order, and the shard's state after it.

    ``finished``: the shard is closed and every record of it was handed out.
    ``throttled``: the read was refused and the reader already waited its backoff.
    ``millis_behind_latest``: how far the last record read is behind the
    shard's tip, when the source says (Kinesis); None otherwise.
    ``records_behind``: how many records are left after it, when the source
    says (a Kafka partition's high watermark); None otherwise.
    """

    records: list[SourceRecord] = field(default_factory=list)
    finished: bool = False
    throttled: bool = False
    millis_behind_latest: int | None = None
    records_behind: int | None = None


class PartitionReader(Protocol):
    """Reads one shard (or Kafka partition) in order; one per shard a worker holds."""

    @property
    def shard(self) -> Shard:
        """The shard as last listed."""

    @property
    def finished(self) -> bool:
        """Whether the shard is closed and read to its end."""

    def update_shard(self, shard: Shard) -> None:
        """A fresh listing of the shard (it may have closed since)."""

    def seek(self, position: IteratorPosition) -> None:
        """Read from ``position`` next (a rewind after a failed batch)."""

    async def read(self, limit: int) -> ShardRead:
        """Up to ``limit`` records after the last one handed out, waiting briefly if none."""

    async def close(self) -> None:
        """Release what the reader holds (a Kafka consumer); idempotent."""


@dataclass(frozen=True)
class BatchInfo:
    """The member a stream ``OnFailure`` record describes its batch with.

    ``name`` is ``KinesisBatchInfo``, ``DDBStreamBatchInfo`` or the Kafka
    equivalent; ``fields`` is its value, in AWS's shape.
    """

    name: str
    fields: dict[str, Any]


class StreamSource(Protocol):
    """One stream mapping's source (one instance per running mapping)."""

    @property
    def arn(self) -> str:
        """The records' ``eventSourceARN`` (Kafka: the mapping's source key)."""

    @property
    def max_records_per_read(self) -> int:
        """The most records one ``read`` returns (Kinesis 10,000, DynamoDB 1,000)."""

    @property
    def keyed(self) -> bool:
        """Whether ``SourceRecord.group`` is a partition key that lanes may split by
        (Kinesis, DynamoDB); False keeps a shard in one lane (Kafka partitions)."""

    @property
    def retention_s(self) -> float | None:
        """How long the stream keeps a record, in seconds, as read by ``open`` (None:
        unknown; Kafka's is the topic's own setting, not read). A failed batch with no
        ``MaximumRecordAgeInSeconds`` is retried until its records expire, on AWS."""

    async def refresh_retention(self) -> None:
        """Read the retention again if the last reading is old (a stream's retention
        can be changed while it is read); best effort, keeps the last one on error."""

    async def open(self) -> None:
        """Check the stream exists; raise if it is gone."""

    async def list_shards(self) -> list[Shard]:
        """Every shard of the stream, open and closed, parents listed before children."""

    def reader(self, shard: Shard, start: IteratorPosition) -> PartitionReader:
        """A reader of ``shard`` from ``start``."""

    def payload(self, shard: Shard, records: Sequence[SourceRecord]) -> dict[str, Any]:
        """The invoke event of a batch of one shard (``{"Records": [...]}``, Kafka's
        ``{"eventSource": ..., "records": {"topic-0": [...]}}``)."""

    def batch_info(self, shard: Shard, records: Sequence[SourceRecord]) -> BatchInfo:
        """How an ``OnFailure`` record describes this batch."""

    async def checkpointed(self, shard: Shard, position: str) -> None:
        """The shard's checkpoint is durable at ``position``: tell the source if it keeps
        one too (a Kafka consumer group's committed offset); best effort."""

    async def close(self) -> None:
        """Release the source's resources (idempotent)."""


@runtime_checkable
class StreamSourceFactory(Protocol):
    """Makes the ``StreamSource`` of a mapping (one factory per stream source type)."""

    def source(self, mapping: EventSourceMapping) -> StreamSource:
        """A new, unopened source for ``mapping``'s stream."""
