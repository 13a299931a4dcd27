"""``KafkaPartitionReader``: reads one partition in order, with a consumer of its own.

One consumer per reader (``assign()`` of that single partition, no consumer
group) rather than one consumer shared by a source's readers, because:

- a reader's position is the consumer's position: ``seek`` and a cancelled
  ``read`` touch nothing but this partition, and an ``assign()`` made for one
  reader can never reset another's position (aiokafka resets every position on
  ``assign``);
- concurrent reads of several partitions need no lock: each waits on its own
  fetcher, so an idle partition's wait never holds back a busy one;
- the cost is one broker connection per partition a node reads, which a
  self-hosted cluster's partition counts (tens, not thousands) can carry.

Positions are offsets as decimal strings (``SourceRecord.record_id``). A start
position is resolved at the next ``read`` (so ``LATEST`` means "after what the
partition holds then"): ``TRIM_HORIZON`` is the earliest offset still kept,
``LATEST`` the end, ``AT_TIMESTAMP`` the first record at or after the time
(``offsets_for_times``; records before it that a broker's coarse answer lets
through are dropped here, as Tansu's answer is), ``AT_SEQUENCE_NUMBER n`` is n
and ``AFTER_SEQUENCE_NUMBER n`` is n + 1. An offset trimmed by retention while
the reader idles restarts at the earliest kept (``auto_offset_reset``).

A cancelled ``read`` loses nothing: aiokafka hands records out of its fetch
buffer only when ``getmany`` returns, so what was fetched while the read waited
is returned by the next one. A partition never closes: ``finished`` stays False.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from roost.esm.connector import SourceRecord
from roost.esm.kafka.config import KafkaSettings, consumer_config
from roost.esm.kafka.records import KafkaMessage, source_record
from roost.esm.shards import IteratorPosition, IteratorType, Shard
from roost.esm.stream.source import ShardRead

log = logging.getLogger(__name__)


class KafkaPartitionReader:
    """Reads one Kafka partition (one ``Shard`` named ``topic-N``) from a position."""

    def __init__(
        self,
        shard: Shard,
        topic: str,
        partition: int,
        start: IteratorPosition,
        settings: KafkaSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shard = shard
        self._partition = TopicPartition(topic, partition)
        self._settings = settings
        self._clock = clock
        self._consumer: Any = None
        self._starting: asyncio.Task[Any] | None = None
        self._pending: IteratorPosition | None = start
        # Records older than this (epoch ms) are dropped: an AT_TIMESTAMP start.
        self._not_before_ms: int | None = None
        self._next_offset: int | None = None
        self._closed = False

    @property
    def shard(self) -> Shard:
        """The shard as last listed."""
        return self._shard

    @property
    def finished(self) -> bool:
        """Always False: a Kafka partition never closes."""
        return False

    @property
    def next_offset(self) -> int | None:
        """The offset the next record handed out will have at least; None before a read."""
        return self._next_offset

    def update_shard(self, shard: Shard) -> None:
        """A fresh listing of the partition."""
        if shard.shard_id != self._shard.shard_id:
            raise ValueError(f"{shard.shard_id} is not {self._shard.shard_id}")
        self._shard = shard

    def seek(self, position: IteratorPosition) -> None:
        """Read from ``position`` next (applied at the next ``read``)."""
        self._pending = position
        self._not_before_ms = None

    async def read(self, limit: int) -> ShardRead:
        """Up to ``limit`` records after the last one handed out, waiting up to ``read_wait_s``."""
        if self._closed:
            raise RuntimeError(f"reader of {self._shard.shard_id} is closed")
        consumer = await self._started()
        if self._pending is not None:
            # Resolving is idempotent, so a cancelled resolve is simply redone.
            offset = await self._resolve(consumer, self._pending)
            consumer.seek(self._partition, offset)
            self._next_offset = offset
            self._pending = None
        fetched = await consumer.getmany(
            self._partition,
            timeout_ms=int(self._settings.read_wait_s * 1000),
            max_records=max(1, limit),
        )
        records = self._fresh(fetched.get(self._partition, []))
        return ShardRead(records=records, records_behind=self._records_behind(consumer))

    def _records_behind(self, consumer: Any) -> int | None:
        """The partition's lag: its high watermark less the next offset to read."""
        highwater = consumer.highwater(self._partition)
        if highwater is None or self._next_offset is None:
            return None
        return max(0, int(highwater) - self._next_offset)

    def _fresh(self, messages: list[Any]) -> list[SourceRecord]:
        read_at = self._clock()
        records: list[SourceRecord] = []
        for message in messages:
            if self._next_offset is not None and message.offset < self._next_offset:
                continue  # a stale prefetch from before a seek
            self._next_offset = message.offset + 1
            if self._not_before_ms is not None and message.timestamp < self._not_before_ms:
                continue
            self._not_before_ms = None
            records.append(source_record(_message(message), read_at))
        return records

    async def _started(self) -> Any:
        if self._consumer is not None:
            return self._consumer
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start())
        # A cancelled read must not cut a consumer's start in half (its sockets
        # would be left open): the start runs on, and the next read takes it.
        consumer = await asyncio.shield(self._starting)
        self._consumer = consumer
        return consumer

    async def _start(self) -> Any:
        consumer = AIOKafkaConsumer(**consumer_config(self._settings, group_id=None))
        try:
            await consumer.start()
            consumer.assign([self._partition])
        except BaseException:
            await consumer.stop()
            self._starting = None
            raise
        return consumer

    async def _resolve(self, consumer: Any, position: IteratorPosition) -> int:
        tp = self._partition
        if position.type is IteratorType.TRIM_HORIZON:
            return int((await consumer.beginning_offsets([tp]))[tp])
        if position.type is IteratorType.LATEST:
            return int((await consumer.end_offsets([tp]))[tp])
        if position.type is IteratorType.AT_TIMESTAMP:
            assert position.timestamp_s is not None
            target_ms = int(position.timestamp_s * 1000)
            found = (await consumer.offsets_for_times({tp: target_ms}))[tp]
            if found is None:
                return int((await consumer.end_offsets([tp]))[tp])
            self._not_before_ms = target_ms
            return int(found.offset)
        assert position.sequence_number is not None
        offset = int(position.sequence_number)
        return offset + 1 if position.type is IteratorType.AFTER_SEQUENCE_NUMBER else offset

    async def close(self) -> None:
        """Stop the reader's consumer (idempotent)."""
        self._closed = True
        consumer, self._consumer = self._consumer, None
        starting, self._starting = self._starting, None
        if consumer is None and starting is not None:
            with contextlib.suppress(Exception):
                consumer = await starting
        if consumer is not None:
            await consumer.stop()


def _message(record: Any) -> KafkaMessage:
    """An aiokafka ``ConsumerRecord`` as a ``KafkaMessage``."""
    return KafkaMessage(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        timestamp_type=record.timestamp_type,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
    )
