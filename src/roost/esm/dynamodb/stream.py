"""``DynamoDbStream``: the ``StreamApi`` of a DynamoDB stream, boto3 on the configured endpoint.

- ``list_shards``: ``DescribeStream`` page after page (``ExclusiveStartShardId``
  = the last page's ``LastEvaluatedShardId``); shards carry their
  ``ParentShardId`` (DynamoDB closes a shard every few hours and starts a child);
- ``get_shard_iterator``: ``TRIM_HORIZON``, ``LATEST``, ``AT_SEQUENCE_NUMBER``,
  ``AFTER_SEQUENCE_NUMBER``; ``AT_TIMESTAMP`` does not exist for DynamoDB
  Streams (AWS refuses it, and so does this);
- ``get_records``: ``GetRecords`` (at most 1,000 records) in Lambda's shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from roost.esm.aws_clients import AwsClients
from roost.esm.dynamodb.records import DynamoDbStreamArn, source_record
from roost.esm.kinesis.stream_api import RecordsPage, stream_call
from roost.esm.shards import IteratorPosition, IteratorType, Shard

MAX_RECORDS_PER_GET = 1_000
# A DynamoDB stream keeps each record for 24 hours; no setting changes that.
STREAM_RETENTION_S = 24 * 3600.0
SHARDS_PER_PAGE = 100


class DynamoDbStream:
    """One DynamoDB stream read for one mapping."""

    supports_at_timestamp = False

    def __init__(
        self,
        clients: AwsClients,
        stream_arn: str,
        *,
        shards_per_page: int = SHARDS_PER_PAGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._stream = DynamoDbStreamArn.parse(stream_arn)
        self._shards_per_page = shards_per_page
        self._clock = clock

    @property
    def arn(self) -> str:
        """The stream's ARN."""
        return self._stream.arn

    async def retention_s(self) -> float | None:
        """24 hours, for every DynamoDB stream."""
        return STREAM_RETENTION_S

    async def _call(self, operation: str, **params: Any) -> Any:
        return await stream_call(self._clients, self._stream.region, operation, **params)

    async def list_shards(self) -> list[Shard]:
        """Every shard of the stream, open and closed, across all ``DescribeStream`` pages."""
        shards: list[Shard] = []
        params: dict[str, Any] = {"StreamArn": self.arn, "Limit": self._shards_per_page}
        while True:
            reply = await self._call("describe_stream", **params)
            description = reply.get("StreamDescription") or {}
            shards.extend(Shard.from_wire(shard) for shard in description.get("Shards") or [])
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            params["ExclusiveStartShardId"] = last

    async def get_shard_iterator(self, shard_id: str, position: IteratorPosition) -> str:
        """``GetShardIterator`` at ``position`` (``AT_TIMESTAMP`` is refused)."""
        if position.type is IteratorType.AT_TIMESTAMP:
            raise ValueError("DynamoDB Streams has no AT_TIMESTAMP iterator")
        params: dict[str, Any] = {
            "StreamArn": self.arn,
            "ShardId": shard_id,
            "ShardIteratorType": position.type.value,
        }
        if position.sequence_number is not None:
            params["SequenceNumber"] = position.sequence_number
        reply = await self._call("get_shard_iterator", **params)
        return str(reply["ShardIterator"])

    async def get_records(self, shard_id: str, iterator: str, limit: int) -> RecordsPage:
        """``GetRecords``: up to ``limit`` records in Lambda's DynamoDB shape."""
        reply = await self._call(
            "get_records", ShardIterator=iterator, Limit=max(1, min(MAX_RECORDS_PER_GET, limit))
        )
        read_at = self._clock()
        records = [
            source_record(record, shard_id, self._stream, read_at)
            for record in reply.get("Records") or []
        ]
        return RecordsPage(records=records, next_iterator=reply.get("NextShardIterator"))
