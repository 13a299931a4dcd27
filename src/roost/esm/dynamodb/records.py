"""DynamoDB stream records in the shape Lambda hands them to functions.

The shape AWS documents (and AWS Lambda Powertools parses)::

    {"eventID": "c4ca4238a0b923820dcc509a6f75849b", "eventName": "INSERT",
     "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
     "dynamodb": {"ApproximateCreationDateTime": 1428537600.0,
                  "Keys": {"Id": {"N": "101"}},
                  "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}},
                  "SequenceNumber": "4421584500000000017450439091",
                  "SizeBytes": 26, "StreamViewType": "NEW_AND_OLD_IMAGES"},
     "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2015-06-27T00:48"}

Items keep DynamoDB's typed JSON (``{"S": ...}``, ``{"N": "1"}``), with binary
values (``B``, ``BS``) in base64 as on the wire. ``NewImage``/``OldImage``
appear as the stream's view type and the operation give them.
``ApproximateCreationDateTime`` is epoch seconds, rounded down to the second
as DynamoDB Streams documents it. Items deleted by TTL carry
``"userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"}``.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roost.esm.connector import SourceRecord, json_size
from roost.esm.kinesis.records import epoch_seconds
from roost.esm.kinesis.stream_api import ARRIVAL_ATTRIBUTE, SHARD_ID_ATTRIBUTE

# The stream record members Lambda passes on, in AWS's order.
STREAM_RECORD_MEMBERS = (
    "ApproximateCreationDateTime",
    "Keys",
    "NewImage",
    "OldImage",
    "SequenceNumber",
    "SizeBytes",
    "StreamViewType",
)
IMAGE_MEMBERS = frozenset({"Keys", "NewImage", "OldImage"})

_STREAM_ARN = re.compile(
    r"^arn:[^:]+:dynamodb:(?P<region>[^:]+):(?P<account>[^:]*):table/(?P<table>[^/]+)/stream/.+$"
)


@dataclass(frozen=True)
class DynamoDbStreamArn:
    """The parts of a DynamoDB stream ARN (``...:table/{table}/stream/{label}``)."""

    arn: str
    region: str
    account_id: str
    table_name: str

    @classmethod
    def parse(cls, arn: str) -> DynamoDbStreamArn:
        """Split a stream ARN; anything else is refused."""
        match = _STREAM_ARN.match(arn)
        if match is None:
            raise ValueError(f"not a DynamoDB stream ARN: {arn}")
        return cls(arn, match["region"], match["account"], match["table"])


def attribute_value(value: Any) -> Any:
    """A DynamoDB ``AttributeValue`` as botocore parsed it, back in its JSON form."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {name: attribute_value(member) for name, member in value.items()}
    if isinstance(value, list):
        return [attribute_value(member) for member in value]
    return value


def _stream_record(stream_record: Mapping[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    for member in STREAM_RECORD_MEMBERS:
        if member not in stream_record:
            continue
        value = stream_record[member]
        if member == "ApproximateCreationDateTime":
            value = float(math.floor(epoch_seconds(value)))
        elif member in IMAGE_MEMBERS:
            value = attribute_value(value)
        shaped[member] = value
    return shaped


def lambda_record(record: Mapping[str, Any], stream: DynamoDbStreamArn) -> dict[str, Any]:
    """The Lambda event record of one record returned by DynamoDB Streams' ``GetRecords``."""
    shaped: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        # What DynamoDB Streams writes today and Lambda's examples show.
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion") or stream.region,
        "dynamodb": _stream_record(record.get("dynamodb") or {}),
        "eventSourceARN": stream.arn,
    }
    identity = record.get("userIdentity")
    if identity:
        shaped["userIdentity"] = {
            "type": identity.get("Type"),
            "principalId": identity.get("PrincipalId"),
        }
    return shaped


def item_key(keys: Mapping[str, Any]) -> str:
    """The item's primary key as one string: the ordering group of its records."""
    return json.dumps(keys, sort_keys=True, separators=(",", ":"))


def source_record(
    record: Mapping[str, Any], shard_id: str, stream: DynamoDbStreamArn, read_at_s: float
) -> SourceRecord:
    """A ``GetRecords`` record ready for the buffer: ordered per item (its primary key)."""
    event_record = lambda_record(record, stream)
    change = event_record["dynamodb"]
    attributes = {SHARD_ID_ATTRIBUTE: shard_id}
    if "ApproximateCreationDateTime" in change:
        attributes[ARRIVAL_ATTRIBUTE] = repr(change["ApproximateCreationDateTime"])
    return SourceRecord(
        record_id=str(change["SequenceNumber"]),
        event_record=event_record,
        size_bytes=json_size(event_record),
        handle=shard_id,
        group=item_key(change.get("Keys") or {}),
        received_at_s=read_at_s,
        attributes=attributes,
    )
