"""The ``OnFailure`` invocation record of a stream mapping, in AWS's shape.

When a Kinesis or DynamoDB Streams mapping discards a batch, it sends its
``DestinationConfig.OnFailure`` destination a record that says where the batch
was, not what it held (AWS Lambda Developer Guide, *Using AWS Lambda with
Amazon Kinesis* / *with Amazon DynamoDB*, "Error handling", example invocation
records; today ``kinesis-on-failure-destination.html``)::

    {"requestContext": {"requestId": "c9b8fa9f-...", "condition": "RetryAttemptsExhausted",
                        "functionArn": "arn:aws:lambda:...:function:myfunction",
                        "approximateInvokeCount": 1},
     "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                         "functionError": "Unhandled"},
     "version": "1.0", "timestamp": "2019-11-14T00:38:06.021Z",
     "KinesisBatchInfo": {"shardId": "shardId-000000000001",
                          "startSequenceNumber": "4960...", "endSequenceNumber": "4960...",
                          "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
                          "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
                          "batchSize": 500, "streamArn": "arn:aws:kinesis:..."}}

DynamoDB's member is ``DDBStreamBatchInfo`` with the same fields; its arrival
times are whole seconds (``2019-11-14T00:13:19Z``) because
``ApproximateCreationDateTime`` is. ``condition`` is ``RetryAttemptsExhausted``
(``MaximumRetryAttempts`` reached) or ``RecordAgeExceeded``
(``MaximumRecordAgeInSeconds`` passed, or the records were about to expire).
``responseContext`` describes the last attempt; when no attempt reached the
function (it was throttled until the records aged out) there is no response to
describe and the member is left out, as for asynchronous invokes.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from roost.destinations.records import (
    RECORD_VERSION,
    InvocationResult,
    record_timestamp,
    response_context,
)
from roost.esm.connector import SourceRecord
from roost.esm.kinesis.stream_api import ARRIVAL_ATTRIBUTE
from roost.esm.stream.source import BatchInfo

KINESIS_BATCH_INFO = "KinesisBatchInfo"
DYNAMODB_BATCH_INFO = "DDBStreamBatchInfo"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class StreamFailureCondition(enum.StrEnum):
    """``requestContext.condition`` of a stream failure record: why the batch was discarded."""

    RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
    RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


def _arrival(record: SourceRecord) -> dt.datetime | None:
    """The record's arrival stamp, to the millisecond, if its source gave one."""
    text = record.attributes.get(ARRIVAL_ATTRIBUTE)
    if not text:
        return None
    # Whole milliseconds from the text: a float's 1545084650.987 would come
    # back as .986999 and print one millisecond early.
    return _EPOCH + dt.timedelta(milliseconds=round(float(text) * 1000))


def _seconds_timestamp(moment: dt.datetime) -> str:
    """``2019-11-14T00:13:19Z``: DynamoDB's stamps have no fraction to show."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _batch_fields(
    shard_id: str,
    stream_arn: str,
    records: Sequence[SourceRecord],
    stamp: Callable[[dt.datetime], str],
) -> dict[str, Any]:
    if not records:
        raise ValueError("a failure record describes a batch of at least one record")
    fields: dict[str, Any] = {
        "shardId": shard_id,
        "startSequenceNumber": records[0].record_id,
        "endSequenceNumber": records[-1].record_id,
    }
    # A record without a stamp leaves its member out rather than invent a time.
    for member, record in (
        ("approximateArrivalOfFirstRecord", records[0]),
        ("approximateArrivalOfLastRecord", records[-1]),
    ):
        arrived = _arrival(record)
        if arrived is not None:
            fields[member] = stamp(arrived)
    fields["batchSize"] = len(records)
    fields["streamArn"] = stream_arn
    return fields


def kinesis_batch_info(
    shard_id: str, stream_arn: str, records: Sequence[SourceRecord]
) -> BatchInfo:
    """``KinesisBatchInfo`` of a batch of one shard (records in shard order)."""
    return BatchInfo(
        KINESIS_BATCH_INFO, _batch_fields(shard_id, stream_arn, records, record_timestamp)
    )


def dynamodb_batch_info(
    shard_id: str, stream_arn: str, records: Sequence[SourceRecord]
) -> BatchInfo:
    """``DDBStreamBatchInfo`` of a batch of one shard (records in shard order)."""
    return BatchInfo(
        DYNAMODB_BATCH_INFO, _batch_fields(shard_id, stream_arn, records, _seconds_timestamp)
    )


def failure_record(
    batch_info: BatchInfo,
    *,
    request_id: str | None,
    function_arn: str,
    condition: StreamFailureCondition,
    invoke_count: int,
    response: InvocationResult | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """The record sent to the mapping's ``OnFailure`` destination for a discarded batch.

    ``request_id`` is the last attempt's (a new one is made when no attempt
    ran); ``invoke_count`` counts the attempts that reached the function;
    ``response`` is what the last attempt returned, None if none ran.
    """
    record: dict[str, Any] = {
        "requestContext": {
            "requestId": request_id or str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition.value,
            "approximateInvokeCount": invoke_count,
        },
    }
    if response is not None:
        record["responseContext"] = response_context(response)
    record["version"] = RECORD_VERSION
    record["timestamp"] = record_timestamp(now)
    record[batch_info.name] = dict(batch_info.fields)
    return record
