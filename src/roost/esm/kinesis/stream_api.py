"""``StreamApi``: the shard-iterator protocol Kinesis and DynamoDB Streams both speak.

A ``ShardReader`` reads any stream through this port; ``KinesisStream`` and
``DynamoDbStream`` adapt boto3 to it, turning each record into its Lambda
event shape as it is read. Errors that change what a reader does next are
raised as the exceptions below, whatever service they came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from roost.esm.aws_clients import AwsClients
from roost.esm.connector import SourceRecord
from roost.esm.shards import IteratorPosition, Shard

# ``SourceRecord.attributes`` of stream records: the shard it was read from and
# when it arrived (epoch seconds as text), for iterator age and failure records.
SHARD_ID_ATTRIBUTE = "ShardId"
ARRIVAL_ATTRIBUTE = "ApproximateArrivalTimestamp"

# Kinesis: ProvisionedThroughputExceededException (5 reads/s or 2 MB/s per
# shard), KMSThrottlingException; DynamoDB Streams: LimitExceededException;
# either, through the AWS front door: ThrottlingException.
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "KMSThrottlingException",
        "LimitExceededException",
        "ThrottlingException",
        "Throttling",
    }
)


class StreamError(Exception):
    """A stream call failed in a way the reader handles."""


class ExpiredIteratorError(StreamError):
    """The shard iterator expired (Kinesis: 5 minutes, DynamoDB Streams: 15 minutes)."""


class TrimmedDataError(StreamError):
    """The position was trimmed past the retention period (DynamoDB Streams)."""


class ThrottledError(StreamError):
    """The shard's read throughput is exceeded: back off and try again."""


def translate_client_error(error: Exception) -> Exception:
    """The ``StreamError`` a botocore ``ClientError`` stands for, or the error itself."""
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    if code == "ExpiredIteratorException":
        return ExpiredIteratorError(str(error))
    if code == "TrimmedDataAccessException":
        return TrimmedDataError(str(error))
    if code in THROTTLING_CODES:
        return ThrottledError(str(error))
    return error


async def stream_call(clients: AwsClients, region: str, operation: str, **params: Any) -> Any:
    """``clients.call`` with the errors a reader handles raised as ``StreamError``s."""
    try:
        return await clients.call(region, operation, **params)
    except ClientError as error:
        translated = translate_client_error(error)
        if translated is error:
            raise
        raise translated from error


@dataclass(frozen=True)
class RecordsPage:
    """One ``GetRecords`` answer.

    ``next_iterator`` is None once a closed shard has been read to its end.
    ``millis_behind_latest`` is Kinesis's lag of the page behind the shard's
    tip (None for DynamoDB Streams, which does not report it).
    """

    records: Sequence[SourceRecord]
    next_iterator: str | None
    millis_behind_latest: int | None = None


class StreamApi(Protocol):
    """One stream (a Kinesis data stream or a DynamoDB stream) read by shard iterators.

    Every call is one AWS request in a worker thread, safe to cancel (it is
    idempotent: a cancelled ``get_records`` leaves the reader's position where it was).
    """

    @property
    def arn(self) -> str:
        """The stream's ARN (the records' ``eventSourceARN``)."""

    @property
    def supports_at_timestamp(self) -> bool:
        """Whether ``AT_TIMESTAMP`` iterators exist (Kinesis yes, DynamoDB Streams no)."""

    async def retention_s(self) -> float | None:
        """How long the stream keeps a record, in seconds (None: it cannot say)."""

    async def list_shards(self) -> list[Shard]:
        """Every shard still in the stream (open and closed), all pages."""

    async def get_shard_iterator(self, shard_id: str, position: IteratorPosition) -> str:
        """A new iterator at ``position``; raises ``ValueError`` for a type the service refuses."""

    async def get_records(self, shard_id: str, iterator: str, limit: int) -> RecordsPage:
        """Up to ``limit`` records from ``iterator``, as ``SourceRecord``s in Lambda's shape."""
