"""``KinesisSourceFactory``: the ``StreamSource`` of each Kinesis mapping.

Records carry the function's execution role as ``invokeIdentityArn``, so the
source looks the role up when it opens (``RoleLookup``), not per record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from roost.esm.aws_clients import AwsClients
from roost.esm.kinesis.stream import MAX_RECORDS_PER_GET, KinesisStream
from roost.esm.mapping import EventSourceMapping
from roost.esm.stream.failure_record import kinesis_batch_info
from roost.esm.stream.iterator_source import IteratorStreamSource

# The function's execution role (the records' ``invokeIdentityArn``).
RoleLookup = Callable[[EventSourceMapping], Awaitable[str]]


class KinesisSourceFactory:
    """``StreamSourceFactory`` of Kinesis mappings over shared boto3 clients."""

    def __init__(self, clients: AwsClients, role_of: RoleLookup) -> None:
        self._clients = clients
        self._role_of = role_of

    def source(self, mapping: EventSourceMapping) -> IteratorStreamSource:
        """An unopened source of the mapping's stream."""
        arn = mapping.source.arn
        if arn is None:
            raise ValueError(f"mapping {mapping.uuid} has no stream ARN")

        async def connect() -> KinesisStream:
            return KinesisStream(self._clients, arn, await self._role_of(mapping))

        return IteratorStreamSource(arn, connect, kinesis_batch_info, MAX_RECORDS_PER_GET)
