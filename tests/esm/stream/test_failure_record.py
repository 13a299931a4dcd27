"""Stream OnFailure records: AWS's documented shape for Kinesis and DynamoDB Streams."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from roost.destinations.records import InvocationResult
from roost.esm.connector import SourceRecord
from roost.esm.dynamodb.records import DynamoDbStreamArn
from roost.esm.dynamodb.records import source_record as dynamodb_source_record
from roost.esm.kinesis.records import KinesisRecordContext
from roost.esm.kinesis.records import source_record as kinesis_source_record
from roost.esm.stream.failure_record import (
    StreamFailureCondition,
    dynamodb_batch_info,
    failure_record,
    kinesis_batch_info,
)

FUNCTION_ARN = "arn:aws:lambda:us-east-2:123456789012:function:myfunction"
KINESIS_ARN = "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
DDB_ARN = "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388"
KINESIS_SHARD = "shardId-000000000001"
DDB_SHARD = "shardId-00000001573689847184-864758bb"
NOW = dt.datetime(2019, 11, 14, 0, 38, 6, 21_000, tzinfo=dt.UTC)
FUNCTION_ERROR = InvocationResult(
    payload=b'{"errorMessage": "boom"}', function_error="Unhandled", executed_version="$LATEST"
)
CONTEXT = KinesisRecordContext(KINESIS_ARN, "us-east-2", "arn:aws:iam::123456789012:role/r")


def kinesis_record(sequence: str, arrived: dt.datetime) -> SourceRecord:
    # As GetRecords returns it (botocore parses the stamp into a datetime).
    raw = {
        "SequenceNumber": sequence,
        "ApproximateArrivalTimestamp": arrived,
        "Data": b"hi",
        "PartitionKey": "1",
    }
    return kinesis_source_record(raw, KINESIS_SHARD, CONTEXT, read_at_s=0.0)


def dynamodb_record(sequence: str, created: dt.datetime) -> SourceRecord:
    raw = {
        "eventID": "1",
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"Id": {"N": "101"}},
            "SequenceNumber": sequence,
            "SizeBytes": 26,
            "StreamViewType": "KEYS_ONLY",
        },
    }
    return dynamodb_source_record(raw, DDB_SHARD, DynamoDbStreamArn.parse(DDB_ARN), 0.0)


def test_kinesis_record_has_awss_documented_shape() -> None:
    # Given the batch of AWS's example (arrival times to the millisecond)
    first = dt.datetime(2019, 11, 14, 0, 38, 4, 835_000, tzinfo=dt.UTC)
    last = dt.datetime(2019, 11, 14, 0, 38, 5, 580_000, tzinfo=dt.UTC)
    records = [
        kinesis_record("49601189658422359378836298521827638475320189012309704722", first),
        *[kinesis_record(str(n), first) for n in range(498)],
        kinesis_record("49601189658422359378836298522902373528957594348623495186", last),
    ]

    # When the retries are exhausted after a function error
    record = failure_record(
        kinesis_batch_info(KINESIS_SHARD, KINESIS_ARN, records),
        request_id="c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
        function_arn=FUNCTION_ARN,
        condition=StreamFailureCondition.RETRY_ATTEMPTS_EXHAUSTED,
        invoke_count=1,
        response=FUNCTION_ERROR,
        now=NOW,
    )

    # Then the record is AWS's example, member for member and in its order
    assert record == {
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
            "functionArn": FUNCTION_ARN,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:38:06.021Z",
        "KinesisBatchInfo": {
            "shardId": KINESIS_SHARD,
            "startSequenceNumber": "49601189658422359378836298521827638475320189012309704722",
            "endSequenceNumber": "49601189658422359378836298522902373528957594348623495186",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
            "batchSize": 500,
            "streamArn": KINESIS_ARN,
        },
    }
    assert list(record) == [
        "requestContext",
        "responseContext",
        "version",
        "timestamp",
        "KinesisBatchInfo",
    ]
    assert list(record["KinesisBatchInfo"]) == [
        "shardId",
        "startSequenceNumber",
        "endSequenceNumber",
        "approximateArrivalOfFirstRecord",
        "approximateArrivalOfLastRecord",
        "batchSize",
        "streamArn",
    ]


def test_arrival_milliseconds_are_not_lost_to_float_rounding() -> None:
    # 1545084650.987 is 1545084650.98699998... as a float.
    arrived = dt.datetime.fromtimestamp(1545084650.987, dt.UTC)

    info = kinesis_batch_info(KINESIS_SHARD, KINESIS_ARN, [kinesis_record("1", arrived)])

    assert info.fields["approximateArrivalOfFirstRecord"] == "2018-12-17T22:10:50.987Z"


def test_dynamodb_record_uses_ddb_stream_batch_info_with_whole_seconds() -> None:
    created = dt.datetime(2019, 11, 14, 0, 13, 19, tzinfo=dt.UTC)
    records = [dynamodb_record("800000000003126276362", created)]

    record = failure_record(
        dynamodb_batch_info(DDB_SHARD, DDB_ARN, records),
        request_id="316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
        function_arn=FUNCTION_ARN,
        condition=StreamFailureCondition.RETRY_ATTEMPTS_EXHAUSTED,
        invoke_count=1,
        response=FUNCTION_ERROR,
        now=dt.datetime(2019, 11, 14, 0, 13, 49, 717_000, tzinfo=dt.UTC),
    )

    assert record["timestamp"] == "2019-11-14T00:13:49.717Z"
    assert "KinesisBatchInfo" not in record
    assert record["DDBStreamBatchInfo"] == {
        "shardId": DDB_SHARD,
        "startSequenceNumber": "800000000003126276362",
        "endSequenceNumber": "800000000003126276362",
        "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
        "approximateArrivalOfLastRecord": "2019-11-14T00:13:19Z",
        "batchSize": 1,
        "streamArn": DDB_ARN,
    }


def test_records_aged_out_unattempted_have_no_response_context() -> None:
    # Given a batch throttled until it passed MaximumRecordAgeInSeconds
    info = kinesis_batch_info(KINESIS_SHARD, KINESIS_ARN, [kinesis_record("1", NOW)])

    record = failure_record(
        info,
        request_id=None,
        function_arn=FUNCTION_ARN,
        condition=StreamFailureCondition.RECORD_AGE_EXCEEDED,
        invoke_count=0,
        response=None,
        now=NOW,
    )

    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert uuid.UUID(record["requestContext"]["requestId"])
    assert "responseContext" not in record


def test_throttled_last_attempt_reports_its_status_without_a_version() -> None:
    info = kinesis_batch_info(KINESIS_SHARD, KINESIS_ARN, [kinesis_record("1", NOW)])

    record = failure_record(
        info,
        request_id="r-1",
        function_arn=FUNCTION_ARN,
        condition=StreamFailureCondition.RECORD_AGE_EXCEEDED,
        invoke_count=2,
        response=InvocationResult(status_code=429, payload=b""),
        now=NOW,
    )

    assert record["responseContext"] == {"statusCode": 429}


def test_conditions_are_awss_names() -> None:
    assert {c.value for c in StreamFailureCondition} == {
        "RetryAttemptsExhausted",
        "RecordAgeExceeded",
    }


def test_an_empty_batch_cannot_be_described() -> None:
    with pytest.raises(ValueError):
        kinesis_batch_info(KINESIS_SHARD, KINESIS_ARN, [])
