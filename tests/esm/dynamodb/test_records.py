"""DynamoDB stream records in Lambda's shape, from GetRecords records as botocore parses them."""

from __future__ import annotations

import datetime

import pytest

from roost.esm.dynamodb import DynamoDbStreamArn, attribute_value, lambda_record

ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders/stream/2024-01-01T00:00:00.000"


def test_stream_arns_are_parsed_and_other_arns_refused() -> None:
    parsed = DynamoDbStreamArn.parse(ARN)

    assert (parsed.region, parsed.account_id, parsed.table_name) == (
        "eu-west-1",
        "123456789012",
        "Orders",
    )
    with pytest.raises(ValueError):
        DynamoDbStreamArn.parse("arn:aws:dynamodb:eu-west-1:123456789012:table/Orders")
    with pytest.raises(ValueError):
        DynamoDbStreamArn.parse("arn:aws:kinesis:eu-west-1:123456789012:stream/s")


def test_binary_values_go_back_to_base64_at_any_depth() -> None:
    value = {"M": {"b": {"B": b"\x00\x01"}, "l": {"L": [{"BS": [b"a", b"b"]}, {"N": "1"}]}}}

    assert attribute_value(value) == {
        "M": {"b": {"B": "AAE="}, "l": {"L": [{"BS": ["YQ==", "Yg=="]}, {"N": "1"}]}}
    }


def test_a_ttl_delete_has_lambdas_shape_with_its_user_identity() -> None:
    record = {
        "eventID": "c81e728d9d4c2f636f067f89cc14862c",
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime.datetime(
                2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC
            ),
            "Keys": {"Id": {"N": "101"}},
            "OldImage": {"Id": {"N": "101"}, "Blob": {"B": b"\xff"}},
            "SequenceNumber": "4421584500000000017450439092",
            "SizeBytes": 38,
            "StreamViewType": "OLD_IMAGE",
        },
        "userIdentity": {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"},
    }

    assert lambda_record(record, DynamoDbStreamArn.parse(ARN)) == {
        "eventID": "c81e728d9d4c2f636f067f89cc14862c",
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1704164645.0,  # Rounded down to the second.
            "Keys": {"Id": {"N": "101"}},
            "OldImage": {"Id": {"N": "101"}, "Blob": {"B": "/w=="}},
            "SequenceNumber": "4421584500000000017450439092",
            "SizeBytes": 38,
            "StreamViewType": "OLD_IMAGE",
        },
        "eventSourceARN": ARN,
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    }
