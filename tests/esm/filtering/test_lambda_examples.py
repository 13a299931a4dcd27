"""Lambda's filtering examples, run through FilterCriteria on records of each source.

Cases follow the examples of the Lambda developer guide (records and values are
our own):
https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html
https://docs.aws.amazon.com/lambda/latest/dg/with-sqs-filtering.html
https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis-filtering.html
https://docs.aws.amazon.com/lambda/latest/dg/with-ddb-filtering.html
https://docs.aws.amazon.com/lambda/latest/dg/with-kafka-filtering.html
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from roost.esm.filtering import EventSourceKind, parse_filter_criteria
from tests.esm.filtering.cases import b64json, b64text, case, text_of


def sqs(body: Any) -> dict[str, Any]:
    """An SQS record of the Lambda event shape; a non-string body is sent as JSON."""
    return {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SenderId": "AIDAEXAMPLE"},
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-west-2:123456789012:my-queue",
        "awsRegion": "us-west-2",
    }


def kinesis(data: str, partition_key: str = "1") -> dict[str, Any]:
    """A Kinesis record of the Lambda event shape with ``data`` already base64."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
            "data": data,
            "approximateArrivalTimestamp": 1545084650.987,
        },
        "eventSource": "aws:kinesis",
        "eventName": "aws:kinesis:record",
        "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
    }


def dynamodb(event_name: str, keys: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB Streams record of the Lambda event shape."""
    return {
        "eventID": "c9fbe7d0261a5163fcb6940593e41797",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": keys,
            "NewImage": image,
            "SequenceNumber": "111",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def kafka(value: str) -> dict[str, Any]:
    """One Kafka record of the Lambda event shape with ``value`` already base64."""
    return {
        "topic": "mytopic",
        "partition": 0,
        "offset": 15,
        "timestamp": 1545084650987,
        "timestampType": "CREATE_TIME",
        "value": value,
        "headers": [],
    }


ORDER = {"RecordNumber": 1234, "TimeStamp": "2024-05-01T10:00:00", "RequestCode": "AAAA"}

SQS_CASES = [
    case("sqs-body-field", {"body": {"RequestCode": ["AAAA"]}}, sqs(ORDER), True),
    case("sqs-body-field-other", {"body": {"RequestCode": ["BBBB"]}}, sqs(ORDER), False),
    case(
        "sqs-body-numeric",
        {"body": {"RecordNumber": [{"numeric": [">", 9999]}]}},
        sqs(ORDER),
        False,
    ),
    case(
        "sqs-body-numeric-above",
        {"body": {"RecordNumber": [{"numeric": [">", 9999]}]}},
        sqs({**ORDER, "RecordNumber": 10000}),
        True,
    ),
    # The comparison-operator summary of the Lambda page, applied to a body.
    case("op-null", {"body": {"UserID": [None]}}, sqs({"UserID": None}), True),
    case("op-empty", {"body": {"LastName": [""]}}, sqs({"LastName": ""}), True),
    case("op-equals", {"body": {"Name": ["Alice"]}}, sqs({"Name": "Alice"}), True),
    case(
        "op-and",
        {"body": {"Location": ["New York"], "Day": ["Monday"]}},
        sqs({"Location": "New York", "Day": "Tuesday"}),
        False,
    ),
    case(
        "op-or",
        {"body": {"PaymentType": ["Credit", "Debit"]}},
        sqs({"PaymentType": "Debit"}),
        True,
    ),
    case(
        "op-not",
        {"body": {"Weather": [{"anything-but": ["Raining"]}]}},
        sqs({"Weather": "Raining"}),
        False,
    ),
    case(
        "op-numeric-equals",
        {"body": {"Price": [{"numeric": ["=", 100]}]}},
        sqs({"Price": 100}),
        True,
    ),
    case(
        "op-numeric-range",
        {"body": {"Price": [{"numeric": [">", 10, "<=", 20]}]}},
        sqs({"Price": 10}),
        False,
    ),
    case(
        "op-exists",
        {"body": {"ProductName": [{"exists": True}]}},
        sqs({"ProductName": "Tea"}),
        True,
    ),
    case(
        "op-does-not-exist",
        {"body": {"ProductName": [{"exists": False}]}},
        sqs({"ProductName": "Tea"}),
        False,
    ),
    case(
        "op-begins-with",
        {"body": {"Region": [{"prefix": "us-"}]}},
        sqs({"Region": "us-east-2"}),
        True,
    ),
    case(
        "op-ends-with",
        {"body": {"FileName": [{"suffix": ".png"}]}},
        sqs({"FileName": "cat.jpg"}),
        False,
    ),
]

STREAM_ORDER = {"record": 12345, "order": {"type": "buy", "stock": "ANYCO", "quantity": 1000}}

KINESIS_CASES = [
    case(
        "kinesis-data-nested",
        {"data": {"order": {"type": ["buy"]}}},
        kinesis(b64json(STREAM_ORDER)),
        True,
    ),
    case(
        "kinesis-data-nested-other",
        {"data": {"order": {"type": ["sell"]}}},
        kinesis(b64json(STREAM_ORDER)),
        False,
    ),
    case(
        "kinesis-metadata-and-data",
        {"partitionKey": ["1"], "data": {"Location": ["Los Angeles"]}},
        kinesis(b64json({"Location": "Los Angeles"}), partition_key="1"),
        True,
    ),
    case(
        "kinesis-metadata-mismatch",
        {"partitionKey": ["1"], "data": {"Location": ["Los Angeles"]}},
        kinesis(b64json({"Location": "Los Angeles"}), partition_key="2"),
        False,
    ),
    case(
        "kinesis-temperature-range",
        {"data": {"Temperature": [{"numeric": [">", 50, "<=", 60]}]}},
        kinesis(b64json({"Temperature": 55})),
        True,
    ),
    case(
        "kinesis-temperature-outside",
        {"data": {"Temperature": [{"numeric": [">", 50, "<=", 60]}]}},
        kinesis(b64json({"Temperature": 61})),
        False,
    ),
]

ITEM = {"Message": {"S": "New item!"}, "Id": {"N": "101"}}

DYNAMODB_CASES = [
    case(
        "ddb-multi-level",
        {"dynamodb": {"Keys": {"Id": {"N": ["101"]}}}},
        dynamodb("INSERT", {"Id": {"N": "101"}}, ITEM),
        True,
    ),
    case(
        "ddb-multi-level-other",
        {"dynamodb": {"Keys": {"Id": {"N": ["102"]}}}},
        dynamodb("INSERT", {"Id": {"N": "101"}}, ITEM),
        False,
    ),
    case(
        "ddb-event-name-and-image",
        {
            "eventName": ["INSERT"],
            "dynamodb": {"NewImage": {"Message": {"S": [{"prefix": "New"}]}}},
        },
        dynamodb("INSERT", {"Id": {"N": "101"}}, ITEM),
        True,
    ),
    case(
        "ddb-event-name-other",
        {"eventName": ["REMOVE"]},
        dynamodb("MODIFY", {"Id": {"N": "101"}}, ITEM),
        False,
    ),
]

KAFKA_CASES = [
    case(
        "kafka-json-prefix",
        {"value": {"device_ID": [{"prefix": "AB"}]}},
        kafka(b64json({"device_ID": "AB1234", "session": {"duration": 162}})),
        True,
    ),
    case(
        "kafka-json-prefix-other",
        {"value": {"device_ID": [{"prefix": "AB"}]}},
        kafka(b64json({"device_ID": "CD1234"})),
        False,
    ),
    case(
        "kafka-plain-string", {"value": [{"anything-but": ["error"]}]}, kafka(b64text("ok")), True
    ),
    case(
        "kafka-plain-excluded",
        {"value": [{"anything-but": ["error"]}]},
        kafka(b64text("error")),
        False,
    ),
]


def _check(source: EventSourceKind, pattern: Any, record: dict[str, Any], expected: bool) -> None:
    criteria = parse_filter_criteria({"Filters": [{"Pattern": text_of(pattern)}]}, source)

    assert criteria.matches(record) is expected


@pytest.mark.parametrize(("pattern", "record", "expected"), SQS_CASES)
def test_sqs_examples(pattern: Any, record: dict[str, Any], expected: bool) -> None:
    _check(EventSourceKind.SQS, pattern, record, expected)


@pytest.mark.parametrize(("pattern", "record", "expected"), KINESIS_CASES)
def test_kinesis_examples(pattern: Any, record: dict[str, Any], expected: bool) -> None:
    _check(EventSourceKind.KINESIS, pattern, record, expected)


@pytest.mark.parametrize(("pattern", "record", "expected"), DYNAMODB_CASES)
def test_dynamodb_examples(pattern: Any, record: dict[str, Any], expected: bool) -> None:
    _check(EventSourceKind.DYNAMODB, pattern, record, expected)


@pytest.mark.parametrize(("pattern", "record", "expected"), KAFKA_CASES)
def test_kafka_examples(pattern: Any, record: dict[str, Any], expected: bool) -> None:
    _check(EventSourceKind.KAFKA, pattern, record, expected)
