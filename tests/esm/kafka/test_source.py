"""``KafkaSource`` and its partition readers against a real Kafka-compatible broker (Tansu)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from roost.esm.connector import SourceRecord
from roost.esm.kafka import KafkaSettings, KafkaSource, KafkaSourceError, KafkaSourceFactory
from roost.esm.kinesis.stream_api import ARRIVAL_ATTRIBUTE, SHARD_ID_ATTRIBUTE
from roost.esm.shards import IteratorPosition, IteratorType, Shard
from tests.esm.kafka.support import Message, kafka_mapping, offsets, produce, read_all, values
from tests.fixtures.kafka_broker import TansuBroker

FAST = KafkaSettings(read_wait_s=0.2, fetch_wait_s=0.05, request_timeout_s=5.0)


def run_with_source(
    bootstrap: str, topic: str, scenario: Callable[[KafkaSource], Awaitable[None]]
) -> None:
    """Open a source of ``topic``, run ``scenario`` with it, close everything."""

    async def main() -> None:
        factory = KafkaSourceFactory(FAST)
        source = factory.source(kafka_mapping(bootstrap, topic))
        try:
            await source.open()
            await scenario(source)
        finally:
            await factory.close()

    asyncio.run(main())


def test_list_shards_is_one_open_shard_per_partition(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic(partitions=3)

    async def scenario(source: KafkaSource) -> None:
        shards = await source.list_shards()
        assert [s.shard_id for s in shards] == [f"{topic}-0", f"{topic}-1", f"{topic}-2"]
        assert not any(s.closed or s.parents for s in shards)
        assert source.keyed is False
        assert source.arn == f"kafka://{kafka_broker.bootstrap}"
        assert source.max_records_per_read == 10_000

    run_with_source(kafka_broker.bootstrap, topic, scenario)


def test_trim_horizon_reads_each_partition_in_order(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic(partitions=3)
    bootstrap = kafka_broker.bootstrap

    async def scenario(source: KafkaSource) -> None:
        sent = [Message(f"p{i % 3}-{i}".encode(), partition=i % 3) for i in range(12)]
        await produce(bootstrap, topic, sent)
        for partition, shard in enumerate(await source.list_shards()):
            reader = source.reader(shard, IteratorPosition.trim_horizon())
            records = await read_all(reader, limit=3)
            expected = [m.value for m in sent if m.partition == partition]
            assert values(records) == expected
            assert offsets(records) == [0, 1, 2, 3]
            assert {r.group for r in records} == {shard.shard_id}
            assert reader.finished is False

    run_with_source(bootstrap, topic, scenario)


def test_latest_reads_only_what_arrives_after_the_first_read(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic()
    bootstrap = kafka_broker.bootstrap

    async def scenario(source: KafkaSource) -> None:
        await produce(bootstrap, topic, [Message(b"old-1"), Message(b"old-2")])
        (shard,) = await source.list_shards()
        reader = source.reader(shard, IteratorPosition.latest())
        assert (await reader.read(10)).records == []
        await produce(bootstrap, topic, [Message(b"new-1"), Message(b"new-2")])
        records = await read_all(reader)
        assert values(records) == [b"new-1", b"new-2"]
        assert offsets(records) == [2, 3]

    run_with_source(bootstrap, topic, scenario)


def test_at_timestamp_starts_at_the_first_record_at_or_after_it(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic()
    bootstrap = kafka_broker.bootstrap
    base_ms = int(time.time() * 1000) - 60_000

    async def scenario(source: KafkaSource) -> None:
        stamped = [Message(f"t{i}".encode(), timestamp_ms=base_ms + i * 1000) for i in range(5)]
        await produce(bootstrap, topic, stamped)
        (shard,) = await source.list_shards()
        reader = source.reader(shard, IteratorPosition.at_timestamp((base_ms + 2500) / 1000))
        records = await read_all(reader)
        assert values(records) == [b"t3", b"t4"]
        assert records[0].attributes[ARRIVAL_ATTRIBUTE] == repr((base_ms + 3000) / 1000)

    run_with_source(bootstrap, topic, scenario)


def test_after_a_checkpoint_and_at_an_offset(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic()
    bootstrap = kafka_broker.bootstrap

    async def scenario(source: KafkaSource) -> None:
        await produce(bootstrap, topic, [Message(f"m{i}".encode()) for i in range(6)])
        (shard,) = await source.list_shards()
        after = source.reader(shard, IteratorPosition.after("2"))
        assert offsets(await read_all(after)) == [3, 4, 5]
        at = source.reader(shard, IteratorPosition(IteratorType.AT_SEQUENCE_NUMBER, "4"))
        assert offsets(await read_all(at)) == [4, 5]

    run_with_source(bootstrap, topic, scenario)


def test_seek_rewinds_to_a_checkpoint(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic()
    bootstrap = kafka_broker.bootstrap

    async def scenario(source: KafkaSource) -> None:
        await produce(bootstrap, topic, [Message(f"m{i}".encode()) for i in range(5)])
        (shard,) = await source.list_shards()
        reader = source.reader(shard, IteratorPosition.trim_horizon())
        assert offsets((await reader.read(3)).records) == [0, 1, 2]
        reader.seek(IteratorPosition.after("0"))
        assert offsets(await read_all(reader)) == [1, 2, 3, 4]
        reader.seek(IteratorPosition.trim_horizon())
        assert offsets(await read_all(reader, limit=2)) == [0, 1, 2, 3, 4]

    run_with_source(bootstrap, topic, scenario)


def test_event_has_the_self_managed_kafka_shape(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic(partitions=2)
    bootstrap = kafka_broker.bootstrap
    stamp_ms = 1_545_084_650_987

    async def scenario(source: KafkaSource) -> None:
        await produce(
            bootstrap,
            topic,
            [
                Message(
                    b"Hello, this is a test.",
                    partition=1,
                    key=b"k\x00\xff",
                    headers=[("headerKey", b"headerValue"), ("empty", b"")],
                    timestamp_ms=stamp_ms,
                ),
                Message(b"\x00binary\xff", partition=1, timestamp_ms=stamp_ms + 1),
            ],
        )
        shard = (await source.list_shards())[1]
        records = await read_all(source.reader(shard, IteratorPosition.trim_horizon()))
        event = source.payload(shard, records)
        assert event == {
            "eventSource": "SelfManagedKafka",
            "bootstrapServers": bootstrap,
            "records": {
                f"{topic}-1": [
                    {
                        "topic": topic,
                        "partition": 1,
                        "offset": 0,
                        "timestamp": stamp_ms,
                        "timestampType": "CREATE_TIME",
                        "key": base64.b64encode(b"k\x00\xff").decode(),
                        "value": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
                        "headers": [
                            {"headerKey": [104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101]},
                            {"empty": []},
                        ],
                    },
                    {
                        "topic": topic,
                        "partition": 1,
                        "offset": 1,
                        "timestamp": stamp_ms + 1,
                        "timestampType": "CREATE_TIME",
                        "value": base64.b64encode(b"\x00binary\xff").decode(),
                        "headers": [],
                    },
                ]
            },
        }
        first = records[0]
        assert first.record_id == "0"
        assert first.handle == first.group == f"{topic}-1"
        assert first.attributes == {
            SHARD_ID_ATTRIBUTE: f"{topic}-1",
            ARRIVAL_ATTRIBUTE: "1545084650.987",
        }

    run_with_source(bootstrap, topic, scenario)


def test_cancelled_reads_lose_no_record(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic()
    bootstrap = kafka_broker.bootstrap

    async def scenario(source: KafkaSource) -> None:
        (shard,) = await source.list_shards()
        reader = source.reader(shard, IteratorPosition.trim_horizon())
        got: list[SourceRecord] = []
        cancelled = 0
        deadline = time.monotonic() + 10
        # The topic is still empty, so a read waits: one is surely cancelled mid-wait
        # (on a loaded machine a read of records may finish before a 10 ms timeout).
        while not cancelled and time.monotonic() < deadline:
            try:
                got.extend((await asyncio.wait_for(reader.read(7), timeout=0.01)).records)
            except TimeoutError:
                cancelled += 1
        producing = asyncio.create_task(
            produce(bootstrap, topic, [Message(f"m{i}".encode()) for i in range(40)])
        )
        while len(got) < 40 and time.monotonic() < deadline:
            # Cancel reads mid-wait, over and over, while records arrive.
            try:
                got.extend((await asyncio.wait_for(reader.read(7), timeout=0.01)).records)
            except TimeoutError:
                cancelled += 1
        await producing
        got.extend(await read_all(reader))
        assert cancelled > 0
        assert offsets(got) == list(range(40))

    run_with_source(bootstrap, topic, scenario)


def test_send_to_topic_lands_with_its_key(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic()
    dead_letters = kafka_broker.create_topic(prefix="dlt")
    bootstrap = kafka_broker.bootstrap

    async def scenario(source: KafkaSource) -> None:
        await source.send_to_topic(dead_letters, b'{"failed": 1}', key=b"k1")
        await source.send_to_topic(dead_letters, b'{"failed": 2}')
        with pytest.raises(ValueError, match="not a partition"):
            source.reader(Shard(f"{dead_letters}-0"), IteratorPosition.trim_horizon())
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            tp = TopicPartition(dead_letters, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            fetched = await consumer.getmany(tp, timeout_ms=2000)
        finally:
            await consumer.stop()
        landed = [(m.key, m.value) for m in fetched[tp]]
        assert landed == [(b"k1", b'{"failed": 1}'), (None, b'{"failed": 2}')]

    run_with_source(bootstrap, topic, scenario)


def test_commit_offset_is_seen_by_the_consumer_group(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic(partitions=2)
    bootstrap = kafka_broker.bootstrap

    async def scenario(source: KafkaSource) -> None:
        await source.commit_offset(f"{topic}-1", 7)
        assert await source.committed_offset(f"{topic}-1") == 7
        assert await source.committed_offset(f"{topic}-0") is None
        group = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=source.group_id)
        await group.start()
        try:
            assert await group.committed(TopicPartition(topic, 1)) == 7
        finally:
            await group.stop()

    run_with_source(bootstrap, topic, scenario)


def test_open_with_a_bad_bootstrap_server_says_so() -> None:
    async def main() -> None:
        source = KafkaSourceFactory(FAST).source(kafka_mapping("127.0.0.1:1", "orders"))
        with pytest.raises(KafkaSourceError, match=r"cannot reach Kafka bootstrap servers 127"):
            await source.open()
        await source.close()

    asyncio.run(main())


def test_open_of_a_missing_topic_says_so(kafka_broker: TansuBroker) -> None:
    async def main() -> None:
        source = KafkaSourceFactory(FAST).source(kafka_mapping(kafka_broker.bootstrap, "nope"))
        try:
            with pytest.raises(KafkaSourceError, match="topic nope not found"):
                await source.open()
        finally:
            await source.close()

    asyncio.run(main())


def test_a_replaced_or_closed_reader_lets_go_of_its_consumer(kafka_broker: TansuBroker) -> None:
    topic = kafka_broker.create_topic()
    bootstrap = kafka_broker.bootstrap

    async def scenario(source: KafkaSource) -> None:
        await produce(bootstrap, topic, [Message(b"m0")])
        (shard,) = await source.list_shards()
        first = source.reader(shard, IteratorPosition.trim_horizon())
        assert offsets(await read_all(first)) == [0]
        second = source.reader(shard, IteratorPosition.after("0"))
        await asyncio.sleep(0.05)  # the replaced reader closes in the background
        with pytest.raises(RuntimeError, match="closed"):
            await first.read(1)
        assert (await second.read(1)).records == []
        await second.close()
        with pytest.raises(RuntimeError, match="closed"):
            await second.read(1)

    run_with_source(bootstrap, topic, scenario)
