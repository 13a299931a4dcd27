"""``Lane``: one of a shard's ``ParallelizationFactor`` ordered batch lines.

The shard worker deals each record to a lane by its partition key (Kinesis
``partitionKey``, a DynamoDB item's key; Kafka keeps a partition in one lane),
so records of one key stay in one lane, in shard order. A lane forms batches
(``BatchSize``, ``MaximumBatchingWindowInSeconds``, the 6 MB payload bound),
invokes them one at a time, and carries out ``batch_retry``'s decisions: a
failed batch blocks the lane until it succeeds, is bisected down to its poison
record, or is given up to ``OnFailure``. Records finished either way are
reported to the ``ReadTracker``, which moves the shard's checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from roost.esm.buffer import BatchPolicy, RecordBuffer
from roost.esm.connector import SourceRecord
from roost.esm.health import MappingHealth
from roost.esm.mapping import EventSourceMapping
from roost.esm.metrics import EsmMetrics, MappingKey
from roost.esm.orchestrator import BatchOutcome, InvokeOrchestrator
from roost.esm.shards import Shard
from roost.esm.stream.batch_retry import Attempt, GiveUp, RetryLimits, decide, expire
from roost.esm.stream.read_tracker import ReadTracker
from roost.esm.stream.record_age import arrival_s
from roost.esm.stream.source import StreamSource

log = logging.getLogger(__name__)


class FailureSink(Protocol):
    """Where a lane sends the records it gives up (the mapping's ``OnFailure``)."""

    async def give_up(
        self, mapping: EventSourceMapping, source: StreamSource, shard: Shard, give_up: GiveUp
    ) -> bool:
        """Deliver the failure record; True once it landed (or there is no destination)."""


@dataclass
class LaneContext:
    """What every lane of one shard shares; the worker updates it on a mapping update."""

    mapping: EventSourceMapping
    source: StreamSource
    shard: Shard
    orchestrator: InvokeOrchestrator
    tracker: ReadTracker
    failures: FailureSink
    health: MappingHealth
    metrics: EsmMetrics
    limits: RetryLimits
    give_up_retry_s: float = 1.0
    wall_clock: Callable[[], float] = time.time
    # The newest record handed to the function: the shard's iterator age.
    newest_arrival_s: float | None = None

    @property
    def key(self) -> MappingKey:
        """The mapping as ``/metrics`` labels it."""
        return MappingKey(self.mapping.uuid, self.mapping.function_arn)


class Lane:
    """Batches and invokes one lane's records in order; ``run`` until stopped."""

    def __init__(self, index: int, context: LaneContext, policy: BatchPolicy) -> None:
        self.index = index
        self._context = context
        self._buffer = RecordBuffer(policy)
        self._wake = asyncio.Event()
        self.busy = False

    @property
    def pending(self) -> int:
        """Records waiting for a batch (not counting the batch being invoked)."""
        return self._buffer.pending

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing being invoked."""
        return not self.busy and not self._buffer.pending

    def reconfigure(self, policy: BatchPolicy) -> None:
        """New batch settings; the next batch uses them."""
        self._buffer.reconfigure(policy, None)

    def add(self, records: Sequence[SourceRecord]) -> None:
        """Queue records of this lane, in shard order."""
        self._buffer.add(records)
        self._wake.set()

    async def run(self, on_batch_done: Callable[[], None]) -> None:
        """Invoke batch after batch as they become ready, until cancelled."""
        while True:
            await self._ready()
            batch = self._buffer.take()
            self.busy = True
            try:
                await self.process(batch)
            finally:
                self.busy = False
                on_batch_done()

    async def _ready(self) -> None:
        while not self._buffer.ready():
            self._wake.clear()
            timeout = self._buffer.remaining_window_s() if self._buffer.pending else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def process(self, batch: Sequence[SourceRecord]) -> None:
        """Run one batch to its end: done, or given up (bisected and retried meanwhile)."""
        context = self._context
        attempts: deque[Attempt] = deque([Attempt(tuple(batch))])
        while attempts:
            attempt, expired = expire(attempts.popleft(), context.limits, context.wall_clock())
            if expired is not None:
                await self._give_up(expired)
            if not attempt.records:
                continue
            outcome = await self._invoke(attempt.records)
            step = decide(attempt, outcome, context.limits)
            if step.done:
                await context.tracker.done(step.done)
            if step.give_up is not None:
                await self._give_up(step.give_up)
            if step.then:
                if outcome.verdict.ran:
                    log.info(
                        "mapping %s shard %s: batch of %d failed (%s); retrying %d part(s)",
                        context.mapping.uuid,
                        context.shard.shard_id,
                        len(attempt.records),
                        outcome.detail or outcome.verdict.value,
                        len(step.then),
                    )
                await asyncio.sleep(step.delay_s)
                attempts.extendleft(reversed(step.then))

    async def _invoke(self, records: tuple[SourceRecord, ...]) -> BatchOutcome:
        context = self._context
        event: dict[str, Any] = context.source.payload(context.shard, records)
        ids = frozenset(record.record_id for record in records)
        context.health.in_flight += 1
        try:
            outcome = await context.orchestrator.invoke(context.mapping, event, ids)
        finally:
            context.health.in_flight -= 1
        context.health.invoked(len(records), outcome)
        failed = sum(1 for record in records if outcome.failed(record))
        context.metrics.invoked(context.key, len(records), outcome.verdict, failed)
        newest = arrival_s(records[-1])
        if newest is not None:
            context.newest_arrival_s = max(newest, context.newest_arrival_s or newest)
        return outcome

    async def _give_up(self, give_up: GiveUp) -> None:
        """Send the records to ``OnFailure`` (until it lands), then count them done."""
        context = self._context
        log.warning(
            "mapping %s shard %s: giving up %d record(s) (%s)",
            context.mapping.uuid,
            context.shard.shard_id,
            len(give_up.records),
            give_up.condition.value,
        )
        while not await context.failures.give_up(
            context.mapping, context.source, context.shard, give_up
        ):
            # The shard stays blocked: records leave only through the destination.
            await asyncio.sleep(context.give_up_retry_s)
        context.metrics.given_up(context.key, len(give_up.records))
        await context.tracker.done(give_up.records)
