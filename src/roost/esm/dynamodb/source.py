"""``DynamoDbSourceFactory``: the ``StreamSource`` of each DynamoDB Streams mapping."""

from __future__ import annotations

from roost.esm.aws_clients import AwsClients
from roost.esm.dynamodb.stream import MAX_RECORDS_PER_GET, DynamoDbStream
from roost.esm.mapping import EventSourceMapping
from roost.esm.stream.failure_record import dynamodb_batch_info
from roost.esm.stream.iterator_source import IteratorStreamSource


class DynamoDbSourceFactory:
    """``StreamSourceFactory`` of DynamoDB Streams mappings over shared boto3 clients."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    def source(self, mapping: EventSourceMapping) -> IteratorStreamSource:
        """An unopened source of the mapping's stream."""
        arn = mapping.source.arn
        if arn is None:
            raise ValueError(f"mapping {mapping.uuid} has no stream ARN")

        async def connect() -> DynamoDbStream:
            return DynamoDbStream(self._clients, arn)

        return IteratorStreamSource(arn, connect, dynamodb_batch_info, MAX_RECORDS_PER_GET)
