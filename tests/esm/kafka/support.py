"""Helpers of the Kafka source tests: a mapping of a topic, producing, reading to the end."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from roost.esm.connector import SourceRecord
from roost.esm.kafka import KafkaPartitionReader
from roost.esm.mapping import EventSourceMapping, MappingSettings
from roost.esm.sources import EventSource, SourceType


@dataclass(frozen=True)
class Message:
    """One record to produce."""

    value: bytes
    partition: int = 0
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    timestamp_ms: int | None = None


def kafka_mapping(
    bootstrap: str, topic: str, group_id: str | None = None, uuid_: str | None = None
) -> EventSourceMapping:
    """A self-managed Kafka mapping of ``topic`` (``ConsumerGroupId`` if given)."""
    config = {"ConsumerGroupId": group_id} if group_id else None
    return EventSourceMapping(
        uuid=uuid_ or str(uuid.uuid4()),
        account_id="123456789012",
        region="us-east-1",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
        source=EventSource(SourceType.KAFKA, None, (bootstrap,)),
        settings=MappingSettings(
            topics=(topic,), starting_position="TRIM_HORIZON", self_managed_kafka_config=config
        ),
    )


async def produce(bootstrap: str, topic: str, messages: Sequence[Message]) -> list[int]:
    """Produce ``messages`` in order, one ack each; their offsets."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        offsets = []
        for m in messages:
            sent = await producer.send_and_wait(
                topic,
                m.value,
                key=m.key,
                partition=m.partition,
                headers=list(m.headers),
                timestamp_ms=m.timestamp_ms,
            )
            offsets.append(int(sent.offset))
        return offsets
    finally:
        await producer.stop()


async def read_all(reader: KafkaPartitionReader, limit: int = 100) -> list[SourceRecord]:
    """Read until a read comes back empty."""
    records: list[SourceRecord] = []
    while True:
        read = await reader.read(limit)
        records.extend(read.records)
        if not read.records:
            return records


def values(records: Sequence[SourceRecord]) -> list[bytes]:
    """The records' decoded values."""
    return [base64.b64decode(r.event_record["value"]) for r in records]


def offsets(records: Sequence[SourceRecord]) -> list[int]:
    """The records' offsets."""
    return [int(r.record_id) for r in records]
