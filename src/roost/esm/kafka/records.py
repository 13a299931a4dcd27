"""Kafka records in the shape Lambda hands them to functions, and how a failed batch is described.

The self-managed Apache Kafka event AWS documents (and AWS Lambda Powertools
parses as ``KafkaEvent``)::

    {"eventSource": "SelfManagedKafka", "bootstrapServers": "b1:9092,b2:9092",
     "records": {"mytopic-0": [{"topic": "mytopic", "partition": 0, "offset": 15,
        "timestamp": 1545084650987, "timestampType": "CREATE_TIME",
        "key": "abcDEFghiJKLmnoPQRstuVWXyz1234==",
        "value": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
        "headers": [{"headerKey": [104, 101, 97, 100, 101, 114]}]}]}}

``key`` and ``value`` are the record's bytes in base64; a record without a key
has no ``key`` member (as in the events AWS delivers); ``timestamp`` is epoch
milliseconds; each header is its own one-member object whose value is the
header's bytes as a list of integers. ``records`` is keyed ``{topic}-{partition}``.

Two details AWS leaves open are decided here: a tombstone (null value) is
delivered as ``"value": ""`` (Powertools requires the member), and a header
with a null value as an empty byte list.

A failed batch sent to an SNS, SQS or S3 ``OnFailure`` destination is
described by a ``KafkaBatchInfo`` member (``kafka_batch_info``) with
``batchSize``, ``bootstrapServers``, ``payloadSize`` and ``recordsInfo`` keyed
``{topic}-{partition}`` (first/last offset as text, first/last timestamp in ISO
8601); ``eventSourceArn`` is left out, since a self-managed cluster has no ARN.
A ``kafka://topic`` destination instead receives one message per failed record,
keyed with the record's key, whose ``KafkaBatchInfo`` has ``batchSize`` 1 and a
single ``recordInfo`` (``record_batch_info``) and whose ``payload`` is the
one-record event itself (not a string).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from roost.esm.connector import SourceRecord, json_size
from roost.esm.kinesis.stream_api import ARRIVAL_ATTRIBUTE, SHARD_ID_ATTRIBUTE
from roost.esm.stream.source import BatchInfo

EVENT_SOURCE = "SelfManagedKafka"
BATCH_INFO_MEMBER = "KafkaBatchInfo"
# ``DestinationConfig.OnFailure.Destination`` of a Kafka topic (same cluster as the source).
KAFKA_DESTINATION_PREFIX = "kafka://"

# Kafka's record timestamp types (the wire's attribute bits), by AWS's names.
TIMESTAMP_TYPES: Mapping[int, str] = {0: "CREATE_TIME", 1: "LOG_APPEND_TIME"}
NO_TIMESTAMP_TYPE = "NO_TIMESTAMP_TYPE"


@dataclass(frozen=True)
class KafkaMessage:
    """One record as a consumer returns it (client-neutral, so shapes are testable alone)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()


def shard_id(topic: str, partition: int) -> str:
    """``{topic}-{partition}``: the shard id of a partition and its key in ``records``."""
    return f"{topic}-{partition}"


def parse_shard_id(value: str) -> tuple[str, int]:
    """Inverse of ``shard_id`` (topic names may contain ``-``: the last one splits)."""
    topic, _, partition = value.rpartition("-")
    if not topic or not partition.isdigit():
        raise ValueError(f"not a Kafka shard id (topic-partition): {value}")
    return topic, int(partition)


def lambda_record(message: KafkaMessage) -> dict[str, Any]:
    """The Lambda event record of one Kafka record."""
    record: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp": message.timestamp_ms,
        "timestampType": TIMESTAMP_TYPES.get(message.timestamp_type, NO_TIMESTAMP_TYPE),
    }
    if message.key is not None:
        record["key"] = _base64(message.key)
    record["value"] = _base64(message.value or b"")
    record["headers"] = [{name: list(value or b"")} for name, value in message.headers]
    return record


def source_record(message: KafkaMessage, read_at_s: float) -> SourceRecord:
    """A consumed record ready for the buffer: one ordering group per partition."""
    event_record = lambda_record(message)
    shard = shard_id(message.topic, message.partition)
    return SourceRecord(
        record_id=str(message.offset),
        event_record=event_record,
        size_bytes=json_size(event_record),
        handle=shard,
        group=shard,
        received_at_s=read_at_s,
        attributes={
            SHARD_ID_ATTRIBUTE: shard,
            ARRIVAL_ATTRIBUTE: repr(message.timestamp_ms / 1000),
        },
    )


def kafka_event(
    bootstrap_servers: str, shard: str, records: Sequence[SourceRecord]
) -> dict[str, Any]:
    """The invoke event of a batch of one partition."""
    return {
        "eventSource": EVENT_SOURCE,
        "bootstrapServers": bootstrap_servers,
        "records": {shard: [dict(record.event_record) for record in records]},
    }


def kafka_batch_info(
    bootstrap_servers: str, shard: str, records: Sequence[SourceRecord]
) -> BatchInfo:
    """``KafkaBatchInfo`` of an SNS, SQS or S3 ``OnFailure`` record of this batch."""
    first, last = records[0].event_record, records[-1].event_record
    return BatchInfo(
        BATCH_INFO_MEMBER,
        {
            "batchSize": len(records),
            "bootstrapServers": bootstrap_servers,
            "payloadSize": json_size(kafka_event(bootstrap_servers, shard, records)),
            "recordsInfo": {
                shard: {
                    "firstRecordOffset": str(first["offset"]),
                    "lastRecordOffset": str(last["offset"]),
                    "firstRecordTimestamp": iso_timestamp(first["timestamp"]),
                    "lastRecordTimestamp": iso_timestamp(last["timestamp"]),
                }
            },
        },
    )


def record_batch_info(bootstrap_servers: str, shard: str, record: SourceRecord) -> BatchInfo:
    """``KafkaBatchInfo`` of one failed record sent to a ``kafka://`` destination."""
    event_record = record.event_record
    return BatchInfo(
        BATCH_INFO_MEMBER,
        {
            "batchSize": 1,
            "bootstrapServers": bootstrap_servers,
            "payloadSize": json_size(kafka_event(bootstrap_servers, shard, [record])),
            "recordInfo": {
                "offset": str(event_record["offset"]),
                "timestamp": iso_timestamp(event_record["timestamp"]),
            },
        },
    )


def destination_topic(destination: str) -> str | None:
    """The topic a ``kafka://topic`` ``OnFailure`` destination names; None for an ARN."""
    if not destination.startswith(KAFKA_DESTINATION_PREFIX):
        return None
    topic = destination.removeprefix(KAFKA_DESTINATION_PREFIX)
    if not topic or "/" in topic:
        raise ValueError(f"not a Kafka topic destination: {destination}")
    return topic


def record_key(record: SourceRecord) -> bytes | None:
    """The record's Kafka key (a ``kafka://`` destination partitions by it), or None."""
    key = record.event_record.get("key")
    return base64.b64decode(key) if key is not None else None


def iso_timestamp(epoch_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds (``2019-11-14T00:38:04.835Z``)."""
    moment = datetime.datetime.fromtimestamp(epoch_ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
