"""Kinesis records in the shape Lambda hands them to functions (``Records[]`` of a Kinesis event).

The shape AWS documents (and AWS Lambda Powertools parses)::

    {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "1",
                 "sequenceNumber": "4959...", "data": "SGVsbG8=",
                 "approximateArrivalTimestamp": 1545084650.987},
     "eventSource": "aws:kinesis", "eventVersion": "1.0",
     "eventID": "shardId-000000000006:4959...", "eventName": "aws:kinesis:record",
     "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
     "awsRegion": "us-east-2",
     "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"}

``data`` is the record's bytes in base64; ``approximateArrivalTimestamp`` is
epoch seconds with milliseconds; a record encrypted with KMS also carries
``"encryptionType": "KMS"`` in ``kinesis``. ``invokeIdentityArn`` is the
function's execution role.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roost.esm.connector import SourceRecord, json_size
from roost.esm.kinesis.stream_api import ARRIVAL_ATTRIBUTE, SHARD_ID_ATTRIBUTE


@dataclass(frozen=True)
class StreamArn:
    """The parts of a Kinesis data stream ARN."""

    arn: str
    region: str
    account_id: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> StreamArn:
        """``arn:aws:kinesis:{region}:{account}:stream/{name}``; a consumer ARN is refused."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "kinesis" or not parts[5].startswith("stream/"):
            raise ValueError(f"not a Kinesis stream ARN: {arn}")
        name = parts[5].removeprefix("stream/")
        if "/" in name:
            # stream/{name}/consumer/{consumer}:{ts}: enhanced fan-out (SubscribeToShard).
            raise ValueError(f"enhanced fan-out consumers are not read yet: {arn}")
        return cls(arn=arn, region=parts[3], account_id=parts[4], name=name)


@dataclass(frozen=True)
class KinesisRecordContext:
    """What a Kinesis record's Lambda shape takes besides the record itself."""

    stream_arn: str
    region: str
    invoke_identity_arn: str


def epoch_seconds(value: Any) -> float:
    """A botocore timestamp (a datetime, or epoch seconds) as epoch seconds."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return float(value.timestamp())
    return float(value)


def lambda_record(
    record: Mapping[str, Any], shard_id: str, context: KinesisRecordContext
) -> dict[str, Any]:
    """The Lambda event record of one record returned by ``GetRecords``."""
    data = record.get("Data") or b""
    raw = data if isinstance(data, bytes | bytearray) else str(data).encode()
    sequence_number = str(record["SequenceNumber"])
    kinesis: dict[str, Any] = {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": record["PartitionKey"],
        "sequenceNumber": sequence_number,
        "data": base64.b64encode(raw).decode(),
        "approximateArrivalTimestamp": round(
            epoch_seconds(record["ApproximateArrivalTimestamp"]), 3
        ),
    }
    if record.get("EncryptionType") not in (None, "NONE"):
        kinesis["encryptionType"] = record["EncryptionType"]
    return {
        "kinesis": kinesis,
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": context.invoke_identity_arn,
        "awsRegion": context.region,
        "eventSourceARN": context.stream_arn,
    }


def source_record(
    record: Mapping[str, Any], shard_id: str, context: KinesisRecordContext, read_at_s: float
) -> SourceRecord:
    """A ``GetRecords`` record ready for the buffer: ordered by partition key."""
    event_record = lambda_record(record, shard_id, context)
    kinesis = event_record["kinesis"]
    return SourceRecord(
        record_id=kinesis["sequenceNumber"],
        event_record=event_record,
        size_bytes=json_size(event_record),
        handle=shard_id,
        group=kinesis["partitionKey"],
        received_at_s=read_at_s,
        attributes={
            SHARD_ID_ATTRIBUTE: shard_id,
            ARRIVAL_ATTRIBUTE: repr(kinesis["approximateArrivalTimestamp"]),
        },
    )
