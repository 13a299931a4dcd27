"""SQS messages in the shape Lambda hands them to functions (``Records[]`` of an SQS event).

The shape AWS documents (and AWS Lambda Powertools parses)::

    {"messageId": "...", "receiptHandle": "...", "body": "...",
     "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "...",
                    "SenderId": "...", "ApproximateFirstReceiveTimestamp": "..."},
     "messageAttributes": {"name": {"stringValue": "v", "stringListValues": [],
                                    "binaryListValues": [], "dataType": "String"}},
     "md5OfBody": "...", "eventSource": "aws:sqs",
     "eventSourceARN": "arn:aws:sqs:...", "awsRegion": "us-east-1"}

FIFO queues add ``SequenceNumber``, ``MessageGroupId`` and
``MessageDeduplicationId`` to ``attributes``. Attribute values are strings, as
SQS returns them; binary message attributes are base64 text.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from roost.api.errors import InvalidParameterValueException

# The system attributes Lambda passes on (SQS may return others on request).
SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def queue_name_and_owner(arn: str) -> tuple[str, str, str]:
    """``(region, account id, queue name)`` of an SQS queue ARN."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise InvalidParameterValueException(f"Not an SQS queue ARN: {arn}")
    return parts[3], parts[4], parts[5]


def _b64(value: Any) -> str:
    raw = value if isinstance(value, bytes | bytearray) else str(value).encode()
    return base64.b64encode(raw).decode()


def message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """One message attribute as SQS returns it (``StringValue``...) in Lambda's shape."""
    converted: dict[str, Any] = {}
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = _b64(value["BinaryValue"])
    converted["stringListValues"] = list(value.get("StringListValues") or [])
    converted["binaryListValues"] = [_b64(v) for v in value.get("BinaryListValues") or []]
    converted["dataType"] = value.get("DataType", "String")
    return converted


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The Lambda event record of one message returned by ``ReceiveMessage``."""
    attributes = message.get("Attributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: str(attributes[k]) for k in SYSTEM_ATTRIBUTES if k in attributes},
        "messageAttributes": {
            name: message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record
