"""The ``SelfManagedKafka`` event, ``KafkaBatchInfo`` and mapping settings, without a broker."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from aws_lambda_powertools.utilities.data_classes import KafkaEvent
from aws_lambda_powertools.utilities.parser.models import KafkaSelfManagedEventModel

from roost.esm.connector import json_size
from roost.esm.kafka import (
    KafkaMessage,
    KafkaSourceFactory,
    consumer_group_id,
    destination_topic,
    kafka_batch_info,
    kafka_event,
    mapping_topic,
    parse_shard_id,
    record_batch_info,
    record_key,
    source_record,
)
from roost.esm.kafka.records import iso_timestamp
from roost.esm.mapping import MappingSettings
from tests.esm.kafka.support import kafka_mapping

SERVERS = "b1:9092,b2:9092"


def message(offset: int, key: bytes | None = b"key", value: bytes = b"value") -> KafkaMessage:
    return KafkaMessage(
        topic="my-topic",
        partition=0,
        offset=offset,
        timestamp_ms=1_573_691_884_835 + offset,
        timestamp_type=0,
        key=key,
        value=value,
        headers=(("headerKey", b"headerValue"),),
    )


def test_powertools_reads_the_event_as_self_managed_kafka() -> None:
    records = [source_record(message(15), 1.0), source_record(message(16, key=None), 1.0)]
    event = kafka_event(SERVERS, "my-topic-0", records)

    parsed = KafkaSelfManagedEventModel.model_validate(event)
    typed = KafkaEvent(event)

    assert parsed.bootstrapServers == ["b1:9092", "b2:9092"]
    first, second = parsed.records["my-topic-0"]
    assert (first.key, first.value, first.offset) == (b"key", "value", 15)
    assert first.headers == [{"headerKey": b"headerValue"}]
    assert second.key is None
    typed_first, typed_second = list(typed.records)
    assert typed_first.decoded_value == b"value"
    assert typed_first.decoded_headers["headerKey"] == b"headerValue"
    assert typed_second.key is None


def test_a_tombstone_and_a_null_header_keep_every_member() -> None:
    tombstone = KafkaMessage("t", 2, 9, 1000, 1, b"k", None, (("h", None),))
    record = source_record(tombstone, 0.0).event_record
    assert record["value"] == ""
    assert record["headers"] == [{"h": []}]
    assert record["timestampType"] == "LOG_APPEND_TIME"


def test_batch_info_describes_the_batch_as_aws_kafka_batch_info() -> None:
    records = [source_record(message(offset), 1.0) for offset in (200, 201, 202)]
    info = kafka_batch_info(SERVERS, "my-topic-0", records)
    assert info.name == "KafkaBatchInfo"
    payload_size = json_size(kafka_event(SERVERS, "my-topic-0", records))
    assert info.fields == {
        "batchSize": 3,
        "bootstrapServers": SERVERS,
        "payloadSize": payload_size,
        "recordsInfo": {
            "my-topic-0": {
                "firstRecordOffset": "200",
                "lastRecordOffset": "202",
                "firstRecordTimestamp": "2019-11-14T00:38:05.035Z",
                "lastRecordTimestamp": "2019-11-14T00:38:05.037Z",
            }
        },
    }


def test_a_kafka_destination_gets_one_record_info_per_record() -> None:
    record = source_record(message(100, key=b"test-key"), 1.0)
    info = record_batch_info(SERVERS, "my-topic-0", record)
    assert info.fields["batchSize"] == 1
    assert info.fields["recordInfo"] == {
        "offset": "100",
        "timestamp": "2019-11-14T00:38:04.935Z",
    }
    assert record_key(record) == b"test-key"
    assert record_key(source_record(message(1, key=None), 1.0)) is None


def test_kafka_destinations_and_shard_ids_parse() -> None:
    assert destination_topic("kafka://failed-records-topic") == "failed-records-topic"
    assert destination_topic("arn:aws:sqs:us-east-1:123456789012:dlq") is None
    with pytest.raises(ValueError):
        destination_topic("kafka://")
    assert parse_shard_id("my-topic-with-dashes-12") == ("my-topic-with-dashes", 12)
    with pytest.raises(ValueError):
        parse_shard_id("nopartition")
    assert iso_timestamp(1_545_084_650_007) == "2018-12-17T22:10:50.007Z"


def test_consumer_group_defaults_to_the_mapping_uuid_and_one_topic_is_required() -> None:
    plain = kafka_mapping("b1:9092", "orders", uuid_="a1b2c3")
    assert consumer_group_id(plain) == "a1b2c3"
    assert consumer_group_id(kafka_mapping("b1:9092", "orders", group_id="billing")) == "billing"
    assert mapping_topic(plain) == "orders"
    two = dataclasses.replace(plain, settings=MappingSettings(topics=("a", "b")))
    with pytest.raises(ValueError, match="exactly one topic"):
        KafkaSourceFactory().source(two)


def test_values_are_base64_of_the_raw_bytes() -> None:
    raw = bytes(range(256))
    record = source_record(message(0, key=raw, value=raw), 0.0).event_record
    assert base64.b64decode(record["key"]) == raw
    assert base64.b64decode(record["value"]) == raw
