"""``KafkaSource``: one self-managed Kafka mapping's topic as a ``StreamSource``.

A mapping reads exactly one topic (as AWS), on ``source.bootstrap_servers``;
its partitions are the shards (``topic-N``, never closed, unkeyed: a partition
is processed in order in one lane). Each ``reader`` has a consumer of its own
(see ``roost.esm.kafka.reader``). The source itself holds two clients, both
opened by ``open``:

- a consumer in the mapping's consumer group (``SelfManagedKafkaEventSourceConfig.
  ConsumerGroupId``, by default the mapping's UUID, as AWS) that lists
  partitions and commits offsets; it is assigned the partitions it commits and
  paused, so it never fetches. Group membership (``subscribe``) is never used:
  Roost's leases decide who reads a partition, and a join is slow (about 20 s
  on Tansu);
- a producer, started on the first ``send_to_topic`` (``kafka://`` on-failure
  destinations write to the source's cluster).

Commits go to the group so ``kafka-consumer-groups --describe`` style tools see
the mapping's lag; the checkpoint store stays the source of truth for where
reading resumes.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from roost.esm.connector import SourceRecord
from roost.esm.kafka.config import KafkaSettings, common_config, consumer_config
from roost.esm.kafka.reader import KafkaPartitionReader
from roost.esm.kafka.records import (
    kafka_batch_info,
    kafka_event,
    parse_shard_id,
    record_batch_info,
    shard_id,
)
from roost.esm.mapping import EventSourceMapping
from roost.esm.shards import IteratorPosition, Shard
from roost.esm.stream.source import BatchInfo

log = logging.getLogger(__name__)

CONSUMER_GROUP_ID = "ConsumerGroupId"


class KafkaSourceError(Exception):
    """The cluster or the topic cannot be reached or found."""


def consumer_group_id(mapping: EventSourceMapping) -> str:
    """The mapping's consumer group: its ``ConsumerGroupId``, else its UUID (as AWS)."""
    config = mapping.settings.self_managed_kafka_config or {}
    return str(config.get(CONSUMER_GROUP_ID) or mapping.uuid)


def mapping_topic(mapping: EventSourceMapping) -> str:
    """The one topic a Kafka mapping reads."""
    topics = mapping.settings.topics or ()
    if len(topics) != 1:
        raise ValueError(f"a Kafka mapping reads exactly one topic, not {list(topics)}")
    return topics[0]


class KafkaSource:
    """One self-managed Kafka mapping's topic, read partition by partition."""

    keyed = False
    retention_s = None

    async def refresh_retention(self) -> None:
        """A topic's retention is not read (``retention_s`` stays None)."""

    def __init__(self, mapping: EventSourceMapping, settings: KafkaSettings) -> None:
        self._key = mapping.source.key
        self._topic = mapping_topic(mapping)
        self._group_id = consumer_group_id(mapping)
        self._settings = settings.for_servers(mapping.source.bootstrap_servers)
        self._committer: Any = None
        self._producer: Any = None
        self._producer_lock = asyncio.Lock()
        self._readers: dict[str, KafkaPartitionReader] = {}
        # Closes of replaced readers, held so they are not collected mid-way.
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def arn(self) -> str:
        """The mapping's source key (``kafka://servers``): a Kafka event carries no ARN."""
        return self._key

    @property
    def topic(self) -> str:
        """The topic the mapping reads."""
        return self._topic

    @property
    def group_id(self) -> str:
        """The consumer group offsets are committed to."""
        return self._group_id

    @property
    def bootstrap_servers(self) -> str:
        """The cluster as the event's ``bootstrapServers`` names it."""
        return self._settings.bootstrap_text

    @property
    def max_records_per_read(self) -> int:
        """The most records one ``read`` returns."""
        return self._settings.max_records_per_read

    async def open(self) -> None:
        """Connect to the cluster and check the topic exists; ``KafkaSourceError`` if not."""
        if self._committer is None:
            committer = AIOKafkaConsumer(**consumer_config(self._settings, self._group_id))
            try:
                await committer.start()
            except KafkaError as error:
                await asyncio.shield(committer.stop())
                raise KafkaSourceError(
                    f"cannot reach Kafka bootstrap servers {self.bootstrap_servers}: {error}"
                ) from error
            except BaseException:
                await asyncio.shield(committer.stop())
                raise
            self._committer = committer
        await self.list_shards()

    async def list_shards(self) -> list[Shard]:
        """One open shard per partition of the topic, in partition order."""
        committer = self._opened()
        try:
            # A fresh listing (``topics()`` refreshes but returns only names, and
            # ``partitions_for_topic`` reads a cache); asking for all topics never
            # makes a broker auto-create the one asked about.
            metadata = await committer._client.fetch_all_metadata()
        except KafkaError as error:
            raise KafkaSourceError(f"cannot list topics of {self.bootstrap_servers}") from error
        partitions = metadata.partitions_for_topic(self._topic)
        if not partitions:
            raise KafkaSourceError(f"topic {self._topic} not found on {self.bootstrap_servers}")
        shards = [Shard(shard_id(self._topic, p)) for p in sorted(partitions)]
        # The committer commits only to assigned partitions; paused, it never fetches.
        tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        if set(committer.assignment()) != set(tps):
            committer.assign(tps)
            committer.pause(*tps)
        return shards

    def reader(self, shard: Shard, start: IteratorPosition) -> KafkaPartitionReader:
        """A reader of the partition ``shard`` names, from ``start`` (replacing any earlier one)."""
        topic, partition = parse_shard_id(shard.shard_id)
        if topic != self._topic:
            raise ValueError(f"{shard.shard_id} is not a partition of {self._topic}")
        reader = KafkaPartitionReader(shard, topic, partition, start, self._settings)
        previous = self._readers.get(shard.shard_id)
        self._readers[shard.shard_id] = reader
        if previous is not None:
            # Its consumer holds a connection; the caller has let go of it.
            task = asyncio.get_running_loop().create_task(previous.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return reader

    def payload(self, shard: Shard, records: Sequence[SourceRecord]) -> dict[str, Any]:
        """The ``SelfManagedKafka`` event of a batch of one partition."""
        return kafka_event(self.bootstrap_servers, shard.shard_id, records)

    def batch_info(self, shard: Shard, records: Sequence[SourceRecord]) -> BatchInfo:
        """``KafkaBatchInfo`` of an SNS, SQS or S3 ``OnFailure`` record of this batch."""
        return kafka_batch_info(self.bootstrap_servers, shard.shard_id, records)

    def record_batch_info(self, shard: Shard, record: SourceRecord) -> BatchInfo:
        """``KafkaBatchInfo`` of one failed record sent to a ``kafka://`` destination."""
        return record_batch_info(self.bootstrap_servers, shard.shard_id, record)

    async def checkpointed(self, shard: Shard, position: str) -> None:
        """Commit the offset after ``position`` to the consumer group, as Lambda does, so
        the group's lag shows progress; a failed commit is only logged."""
        try:
            await self.commit_offset(shard.shard_id, int(position) + 1)
        except Exception as error:
            log.warning("%s: committing the offset of %s failed: %s", self.arn, shard, error)

    async def commit_offset(self, shard_id: str, next_offset: int) -> None:
        """Commit ``next_offset`` (the next offset to process) of a partition to the group."""
        topic, partition = parse_shard_id(shard_id)
        committer = self._opened()
        tp = TopicPartition(topic, partition)
        if tp not in committer.assignment():
            await self.list_shards()
        await committer.commit({tp: next_offset})

    async def committed_offset(self, shard_id: str) -> int | None:
        """The group's committed offset of a partition (None if none)."""
        topic, partition = parse_shard_id(shard_id)
        committed = await self._opened().committed(TopicPartition(topic, partition))
        return int(committed) if committed is not None else None

    async def send_to_topic(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Produce one record to ``topic`` of the source's cluster and wait for its ack."""
        producer = await self._started_producer()
        await producer.send_and_wait(topic, value, key=key)

    async def _started_producer(self) -> Any:
        async with self._producer_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**common_config(self._settings), acks="all")
                try:
                    await producer.start()
                except BaseException:
                    await asyncio.shield(producer.stop())
                    raise
                self._producer = producer
            return self._producer

    def _opened(self) -> Any:
        if self._committer is None:
            raise RuntimeError("KafkaSource.open() was not called (or the source is closed)")
        return self._committer

    async def close(self) -> None:
        """Stop every client of the source and its readers (idempotent)."""
        readers, self._readers = list(self._readers.values()), {}
        clients = [self._committer, self._producer]
        self._committer = self._producer = None
        for reader in readers:
            await reader.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for client in clients:
            if client is not None:
                await client.stop()


class KafkaSourceFactory:
    """Makes the ``KafkaSource`` of a mapping; ``close`` stops any still open."""

    def __init__(self, settings: KafkaSettings | None = None) -> None:
        self._settings = settings or KafkaSettings()
        # Weak: a source its runner dropped (closed) is no business of the factory's.
        self._sources: weakref.WeakSet[KafkaSource] = weakref.WeakSet()

    def source(self, mapping: EventSourceMapping) -> KafkaSource:
        """The source of a self-managed Kafka mapping (``open`` it before use)."""
        if not mapping.source.bootstrap_servers:
            raise ValueError(f"mapping {mapping.uuid} has no Kafka bootstrap servers")
        source = KafkaSource(mapping, self._settings)
        self._sources.add(source)
        return source

    async def close(self) -> None:
        """Close every source this factory made (closing one twice is harmless)."""
        sources = list(self._sources)
        self._sources.clear()
        for source in sources:
            await source.close()
