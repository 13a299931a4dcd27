"""The self-managed Apache Kafka source of stream mappings: partitions as shards, via aiokafka.

``KafkaSourceFactory.source(mapping)`` makes a ``KafkaSource`` (the
``StreamSource`` of one mapping's topic); its ``reader``s are
``KafkaPartitionReader``s (``PartitionReader``), one consumer each. Records
have the ``SelfManagedKafka`` event shape (``records``).
"""

from __future__ import annotations

from roost.esm.kafka.config import KafkaSettings
from roost.esm.kafka.reader import KafkaPartitionReader
from roost.esm.kafka.records import (
    EVENT_SOURCE,
    KAFKA_DESTINATION_PREFIX,
    KafkaMessage,
    destination_topic,
    kafka_batch_info,
    kafka_event,
    lambda_record,
    parse_shard_id,
    record_batch_info,
    record_key,
    shard_id,
    source_record,
)
from roost.esm.kafka.source import (
    KafkaSource,
    KafkaSourceError,
    KafkaSourceFactory,
    consumer_group_id,
    mapping_topic,
)

__all__ = [
    "EVENT_SOURCE",
    "KAFKA_DESTINATION_PREFIX",
    "KafkaMessage",
    "KafkaPartitionReader",
    "KafkaSettings",
    "KafkaSource",
    "KafkaSourceError",
    "KafkaSourceFactory",
    "consumer_group_id",
    "destination_topic",
    "kafka_batch_info",
    "kafka_event",
    "lambda_record",
    "mapping_topic",
    "parse_shard_id",
    "record_batch_info",
    "record_key",
    "shard_id",
    "source_record",
]
