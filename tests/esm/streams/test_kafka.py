"""Self-managed Kafka mappings end to end against a Tansu broker: AWS's event shape,
order per partition, every message processed once."""

from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict
from typing import Any

from roost.cli.mapping_stats import stats_of
from tests.async_invoke.support import Recorder
from tests.esm.sqs.support import wait_for
from tests.esm.streams.support_more import (
    committed_offsets,
    consume_all,
    deploy_kafka_reporter,
    kafka_batches,
    kafka_records,
    mapping_samples,
    produce,
    records_of_fate,
)
from tests.fixtures.kafka_broker import TansuBroker
from tests.fixtures.roost_process import RoostProcess

PARTITIONS = 3
PER_PARTITION = 12


def _map_topic(client: Any, name: str, bootstrap: str, topic: str, **settings: Any) -> str:
    created = client.create_event_source_mapping(
        FunctionName=name,
        SelfManagedEventSource={"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [bootstrap]}},
        Topics=[topic],
        StartingPosition="TRIM_HORIZON",
        **settings,
    )
    uuid_ = str(created["UUID"])
    wait_for(lambda: client.get_event_source_mapping(UUID=uuid_)["State"] == "Enabled", 30)
    return uuid_


def test_messages_of_each_partition_reach_the_function_once_and_in_order(
    stream_roost: RoostProcess,
    kafka_broker: TansuBroker,
    recorder: Recorder,
    function_name: str,
) -> None:
    # Given: keyed messages with headers on a 3-partition topic, interleaved
    client = stream_roost.client()
    deploy_kafka_reporter(client, function_name, recorder)
    topic = kafka_broker.create_topic(partitions=PARTITIONS)
    messages = [
        (p, f"key-{p}", f"p{p}-m{i}", [("trace", f"t-{p}-{i}".encode()), ("kind", b"test")])
        for i in range(PER_PARTITION)
        for p in range(PARTITIONS)
    ]
    produce(kafka_broker.bootstrap, topic, messages)

    # When: the topic is mapped from its trim horizon through the API
    uuid_ = _map_topic(client, function_name, kafka_broker.bootstrap, topic, BatchSize=5)
    wait_for(lambda: len(kafka_records(recorder)) >= len(messages), 60)

    # Then: every message arrived exactly once, in order within its partition
    records = kafka_records(recorder)
    assert Counter(r["value"] for r in records) == Counter(m[2] for m in messages)
    by_partition: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_partition[record["partition"]].append(record)
    for p in range(PARTITIONS):
        got = by_partition[p]
        assert [r["value"] for r in got] == [f"p{p}-m{i}" for i in range(PER_PARTITION)]
        assert [r["offset"] for r in got] == list(range(PER_PARTITION))
        assert {r["shard"] for r in got} == {f"{topic}-{p}"}
        assert {r["key"] for r in got} == {f"key-{p}"}
        assert [r["headers"] for r in got] == [
            [{"trace": f"t-{p}-{i}"}, {"kind": "test"}] for i in range(PER_PARTITION)
        ]
    assert all(len(b["records"]) <= 5 for b in kafka_batches(recorder))
    wait_for(lambda: records_of_fate(stream_roost, uuid_, "invoked") == len(messages), 30)
    # And: /metrics (and so ``roost mapping-stats``) has an iterator age per partition
    partitions = stats_of(mapping_samples(stream_roost, uuid_), uuid_).shards
    assert set(partitions) == {f"{topic}-{p}" for p in range(PARTITIONS)}
    # ... and its lag in records: none left once everything was read
    assert {p.records_behind for p in partitions.values()} == {0}
    # And: the consumer group (named after the mapping by default) has committed
    # each partition past its last message, as lag tools expect
    everything = dict.fromkeys(range(PARTITIONS), PER_PARTITION)
    wait_for(
        lambda: committed_offsets(kafka_broker.bootstrap, uuid_, topic, PARTITIONS) == everything,
        30,
    )


def test_the_event_has_aws_s_self_managed_kafka_shape(
    stream_roost: RoostProcess,
    kafka_broker: TansuBroker,
    recorder: Recorder,
    function_name: str,
) -> None:
    # Given: one message with a key and a header
    client = stream_roost.client()
    deploy_kafka_reporter(client, function_name, recorder)
    topic = kafka_broker.create_topic(partitions=PARTITIONS)
    produce(kafka_broker.bootstrap, topic, [(1, "the-key", "the-value", [("h", b"hv")])])

    # When: the topic is mapped
    _map_topic(client, function_name, kafka_broker.bootstrap, topic, BatchSize=10)
    wait_for(lambda: len(kafka_batches(recorder)) >= 1, 60)

    # Then: the function got AWS's self-managed Kafka event
    event = kafka_batches(recorder)[0]["event"]
    assert event["eventSource"] == "SelfManagedKafka"
    assert event["bootstrapServers"] == kafka_broker.bootstrap
    assert list(event["records"]) == [f"{topic}-1"]
    [record] = event["records"][f"{topic}-1"]
    assert record["topic"] == topic
    assert record["partition"] == 1
    assert record["offset"] == 0
    assert isinstance(record["timestamp"], int) and record["timestamp"] > 1_600_000_000_000
    assert record["timestampType"] == "CREATE_TIME"
    assert base64.b64decode(record["key"]) == b"the-key"
    assert base64.b64decode(record["value"]) == b"the-value"
    assert record["headers"] == [{"h": list(b"hv")}]


def test_a_poison_message_is_bisected_out_to_a_kafka_topic_on_failure(
    stream_roost: RoostProcess,
    kafka_broker: TansuBroker,
    recorder: Recorder,
    function_name: str,
) -> None:
    # Given: six messages on one partition, the third one poison, and a failure topic
    client = stream_roost.client()
    deploy_kafka_reporter(client, function_name, recorder, poison="m2")
    topic = kafka_broker.create_topic(partitions=1)
    failures = kafka_broker.create_topic(partitions=1, prefix="failures")
    produce(kafka_broker.bootstrap, topic, [(0, "k", f"m{i}", []) for i in range(6)])

    # When: mapped with bisecting, no retries and OnFailure kafka://failures
    _map_topic(
        client,
        function_name,
        kafka_broker.bootstrap,
        topic,
        BatchSize=6,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": f"kafka://{failures}"}},
    )

    # Then: the good messages ran once each, in order, in invokes that succeeded
    def succeeded() -> list[str]:
        good = [b for b in kafka_batches(recorder) if not b["failed"]]
        return [r["value"] for b in good for r in b["records"]]

    wait_for(lambda: len(succeeded()) >= 5, 60)
    assert succeeded() == ["m0", "m1", "m3", "m4", "m5"]
    # And: the poison message reached the failure topic, keyed like it, in AWS's shape
    (message,) = consume_all(kafka_broker.bootstrap, failures, 1)
    assert message.key == b"k"
    record = json.loads(message.value)
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["responseContext"]["functionError"] == "Unhandled"
    info = record["KafkaBatchInfo"]
    assert info["batchSize"] == 1
    assert info["bootstrapServers"] == kafka_broker.bootstrap
    assert info["recordInfo"]["offset"] == "2"
    payload = record["payload"]
    assert payload["eventSource"] == "SelfManagedKafka"
    (poison,) = payload["records"][f"{topic}-0"]
    assert base64.b64decode(poison["value"]) == b"m2"
