"""The source connector: the poller's only touchpoint with an event source.

The talk's pollers use a different client per source (the SQS SDK client, KCL
for Kinesis, a Kafka consumer); everything above the connector (buffer,
orchestrator, error handler, checkpoint manager, autoscaler) is the same for
all of them. A connector reads ``SourceRecord``s already in the Lambda event
shape of its source, builds the invoke payload from a batch of them, and
commits (deletes from a queue, checkpoints past on a stream) or releases them.

Streams (issue 6) implement the same Protocol: ``poll`` reads the next records
of the shards the mapping holds, ``commit`` advances the checkpoint, and
``release`` leaves it where it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from roost.esm.mapping import EventSourceMapping


@dataclass(frozen=True)
class SourceRecord:
    """One record read from a source, ready to be batched.

    ``event_record`` is the record exactly as the function sees it in
    ``Records[]``; ``size_bytes`` is the length of its JSON (what it adds to the
    invoke payload). ``group`` is the ordering key (an SQS FIFO
    ``MessageGroupId``, a shard): records of one group are handled in order.
    ``handle`` is what the connector needs to commit or release it (an SQS
    receipt handle). ``visible_until_s`` is when a queue hands the record to
    someone else if it is not committed (monotonic seconds; None for streams).
    """

    record_id: str
    event_record: Mapping[str, Any]
    size_bytes: int
    handle: str
    group: str | None = None
    visible_until_s: float | None = None
    received_at_s: float = 0.0
    attributes: Mapping[str, str] = field(default_factory=dict)


def json_size(record: Mapping[str, Any]) -> int:
    """Bytes ``record`` takes in the invoke payload (compact JSON, UTF-8)."""
    return len(json.dumps(record, separators=(",", ":")).encode())


class SourceConnector(Protocol):
    """Reads one mapping's source; one instance per mapping a poller runs.

    Every method is safe to cancel: a cancelled ``poll`` loses no record (what
    it had received comes back through the source's visibility timeout or is
    read again from the checkpoint), a cancelled ``commit`` commits some or none.
    """

    @property
    def ordered(self) -> bool:
        """Whether records of one ``group`` must be processed strictly in order."""

    @property
    def max_records_per_poll(self) -> int:
        """The most records one ``poll`` returns (10 for SQS)."""

    async def open(self) -> None:
        """Find the source (resolve the queue URL, list the shards); raise if it is gone."""

    async def poll(self, max_records: int, wait_s: float) -> list[SourceRecord]:
        """Up to ``max_records`` records, waiting at most ``wait_s`` for the first one."""

    def payload(self, records: Sequence[SourceRecord]) -> dict[str, Any]:
        """The invoke event of a batch (``{"Records": [...]}`` for queues and streams)."""

    async def commit(self, records: Sequence[SourceRecord]) -> None:
        """The records are done: delete them (queue) or checkpoint past them (stream)."""

    async def release(self, records: Sequence[SourceRecord], delay_s: float) -> None:
        """Hand the records back to the source to be read again in about ``delay_s``."""

    async def backlog(self) -> int | None:
        """Approximately how many records wait to be read (None: unknown)."""

    async def close(self) -> None:
        """Release the connector's resources (idempotent)."""


class ConnectorFactory(Protocol):
    """Makes the connector of a mapping's source (one factory per source type)."""

    def connector(self, mapping: EventSourceMapping) -> SourceConnector:
        """A new, unopened connector for ``mapping``'s source."""


def records_payload(records: Sequence[SourceRecord]) -> dict[str, Any]:
    """``{"Records": [...]}``: the event of SQS, Kinesis and DynamoDB Streams."""
    return {"Records": [dict(record.event_record) for record in records]}
