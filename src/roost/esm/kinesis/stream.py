"""``KinesisStream``: the ``StreamApi`` of a Kinesis data stream, boto3 on the configured endpoint.

- ``list_shards``: ``ListShards`` by ``StreamARN``, every page (``NextToken``);
  closed shards included, so children can wait for their parents;
- ``get_shard_iterator``: every iterator type, ``AT_TIMESTAMP`` included;
- ``get_records``: ``GetRecords`` (at most 10,000 records), each record in
  Lambda's Kinesis shape.

Calls run in ``AwsClients``' threads; the errors a reader handles (expired
iterator, throttling) come out as ``StreamError``s.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

from roost.esm.aws_clients import AwsClients
from roost.esm.kinesis.records import KinesisRecordContext, StreamArn, source_record
from roost.esm.kinesis.stream_api import RecordsPage, stream_call
from roost.esm.shards import IteratorPosition, IteratorType, Shard

MAX_RECORDS_PER_GET = 10_000
SHARDS_PER_PAGE = 1_000


class KinesisStream:
    """One Kinesis data stream read for one mapping."""

    supports_at_timestamp = True

    def __init__(
        self,
        clients: AwsClients,
        stream_arn: str,
        invoke_identity_arn: str,
        *,
        shards_per_page: int = SHARDS_PER_PAGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._stream = StreamArn.parse(stream_arn)
        self._context = KinesisRecordContext(stream_arn, self._stream.region, invoke_identity_arn)
        self._shards_per_page = shards_per_page
        self._clock = clock

    @property
    def arn(self) -> str:
        """The stream's ARN."""
        return self._stream.arn

    async def _call(self, operation: str, **params: Any) -> Any:
        return await stream_call(self._clients, self._stream.region, operation, **params)

    async def retention_s(self) -> float | None:
        """``RetentionPeriodHours`` of ``DescribeStreamSummary`` (24 to 8,760 hours)."""
        reply = await self._call("describe_stream_summary", StreamARN=self.arn)
        hours = reply.get("StreamDescriptionSummary", {}).get("RetentionPeriodHours")
        return float(hours) * 3600 if hours is not None else None

    async def list_shards(self) -> list[Shard]:
        """Every shard of the stream, open and closed, across all pages."""
        shards: list[Shard] = []
        params: dict[str, Any] = {"StreamARN": self.arn, "MaxResults": self._shards_per_page}
        while True:
            reply = await self._call("list_shards", **params)
            shards.extend(Shard.from_wire(shard) for shard in reply.get("Shards") or [])
            token = reply.get("NextToken")
            if not token:
                return shards
            params["NextToken"] = token

    async def get_shard_iterator(self, shard_id: str, position: IteratorPosition) -> str:
        """``GetShardIterator`` at ``position``."""
        params: dict[str, Any] = {
            "StreamARN": self.arn,
            "ShardId": shard_id,
            "ShardIteratorType": position.type.value,
        }
        if position.sequence_number is not None:
            params["StartingSequenceNumber"] = position.sequence_number
        if position.type is IteratorType.AT_TIMESTAMP and position.timestamp_s is not None:
            params["Timestamp"] = datetime.datetime.fromtimestamp(
                position.timestamp_s, datetime.UTC
            )
        reply = await self._call("get_shard_iterator", **params)
        return str(reply["ShardIterator"])

    async def get_records(self, shard_id: str, iterator: str, limit: int) -> RecordsPage:
        """``GetRecords``: up to ``limit`` records in Lambda's Kinesis shape."""
        reply = await self._call(
            "get_records",
            StreamARN=self.arn,
            ShardIterator=iterator,
            Limit=max(1, min(MAX_RECORDS_PER_GET, limit)),
        )
        read_at = self._clock()
        records = [
            source_record(record, shard_id, self._context, read_at)
            for record in reply.get("Records") or []
        ]
        behind = reply.get("MillisBehindLatest")
        return RecordsPage(
            records=records,
            next_iterator=reply.get("NextShardIterator"),
            millis_behind_latest=int(behind) if behind is not None else None,
        )
