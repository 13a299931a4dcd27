"""``Lane``: one of a shard's ``ParallelizationFactor`` ordered batch lines.

The shard worker deals each record to a lane by its partition key (Kinesis
``partitionKey``, a DynamoDB item's key; Kafka keeps a partition in one lane),
so records of one key stay in one lane, in shard order. A lane forms batches
(``BatchSize``, ``MaximumBatchingWindowInSeconds``, the 6 MB payload bound),
invokes them one at a time, and carries out ``batch_retry``'s decisions: a
failed batch blocks the lane until it succeeds, is bisected down to its poison
record, or is given up to ``OnFailure``. Records finished either way are
reported to the ``ReadTracker``, which moves the shard's checkpoint.

With ``TumblingWindowInSeconds``, each lane keeps its ``TumblingWindows``: a
batch is cut at window boundaries, every invoke carries the window and its
state, and a window's final invoke (``isFinalInvokeForWindow``) comes before
the first batch of a later window, when the lane sits idle past the window's
end, or when the shard ends. A final invoke that fails is retried; the lane
waits for it, as AWS suspends processing until it succeeds.
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

from roost.cancellation import within
from roost.esm.buffer import BatchPolicy, RecordBuffer
from roost.esm.connector import SourceRecord
from roost.esm.health import MappingHealth
from roost.esm.mapping import EventSourceMapping
from roost.esm.metrics import EsmMetrics, MappingKey
from roost.esm.orchestrator import BatchOutcome, BatchVerdict, InvokeOrchestrator
from roost.esm.shards import Shard
from roost.esm.stream.batch_retry import Attempt, GiveUp, RetryLimits, decide, expire
from roost.esm.stream.processing_result import LastProcessingResult
from roost.esm.stream.read_tracker import ReadTracker
from roost.esm.stream.record_age import arrival_s
from roost.esm.stream.source import StreamSource
from roost.esm.stream.tumbling_window import TumblingWindows, Window

log = logging.getLogger(__name__)

# How often an idle lane with an open window checks whether the window ended.
WINDOW_CHECK_S = 0.25


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
    result: LastProcessingResult | None = None
    wall_clock: Callable[[], float] = time.time
    # The newest record handed to the function: the shard's iterator age.
    newest_arrival_s: float | None = None
    # Whether the shard's last read found nothing more to read: only then may an
    # idle lane end a window by the clock (a lagging one may not have its records yet).
    at_tip: bool = False

    @property
    def key(self) -> MappingKey:
        """The mapping as ``/metrics`` labels it."""
        return MappingKey(self.mapping.uuid, self.mapping.function_arn)


class Lane:
    """Batches and invokes one lane's records in order; ``run`` until stopped."""

    def __init__(
        self,
        index: int,
        context: LaneContext,
        policy: BatchPolicy,
        windows: TumblingWindows | None = None,
    ) -> None:
        self.index = index
        self._context = context
        self._buffer = RecordBuffer(policy)
        self._windows = windows
        self._wake = asyncio.Event()
        # One invoke at a time: the lane's own batches, or a final invoke at shard end.
        self._lock = asyncio.Lock()
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
            batch_ready = await self._ready()
            self.busy = True
            try:
                async with self._lock:
                    if batch_ready:
                        await self.process(self._buffer.take())
                    else:
                        await self.finalize(idle=True)
            finally:
                self.busy = False
                on_batch_done()

    async def _ready(self) -> bool:
        """Wait until a batch is ready (True) or, idle, a window's final invoke is due."""
        while not self._buffer.ready():
            if self._final_due_while_idle():
                return False
            self._wake.clear()
            timeout = self._buffer.remaining_window_s() if self._buffer.pending else None
            if self._windows is not None and self._windows.open_window is not None:
                timeout = min(timeout or WINDOW_CHECK_S, WINDOW_CHECK_S)
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), timeout)
        return True

    def _final_due_while_idle(self) -> bool:
        windows = self._windows
        if windows is None or self._buffer.pending or not self._context.at_tip:
            return False
        return windows.due_final(self._context.wall_clock()) is not None

    async def process(self, batch: Sequence[SourceRecord]) -> None:
        """Run one batch to its end: done, or given up (bisected and retried meanwhile)."""
        if self._windows is None:
            await self._process_run(batch, None)
            return
        for run in self._windows.runs(batch):
            await self.finalize(next_window=run.window)
            await self._process_run(run.records, run.window)

    async def close_windows(self) -> None:
        """The shard ended: the open window's final invoke, now."""
        async with self._lock:
            await self.finalize(shard_ended=True)

    async def finalize(
        self, *, next_window: Window | None = None, shard_ended: bool = False, idle: bool = False
    ) -> None:
        """Make the open window's final invoke if it is due, retrying until it succeeds."""
        windows = self._windows
        if windows is None:
            return
        context = self._context
        # Only an idle lane judges by the clock: a busy one may hold the window's records.
        now_s = context.wall_clock() if idle else 0.0
        failures = 0
        while window := windows.due_final(now_s, next_window=next_window, shard_ended=shard_ended):
            payload = context.source.payload(context.shard, [])
            event = windows.event(payload, window, final=True)
            outcome = await context.orchestrator.invoke(context.mapping, event, frozenset())
            result = outcome.result
            succeeded = outcome.verdict is BatchVerdict.SUCCEEDED and result is not None
            if succeeded and result is not None and windows.absorb(result.payload).succeeded:
                continue
            failures += 1
            log.info(
                "mapping %s shard %s: final invoke of window %s failed (%s); retrying",
                context.mapping.uuid,
                context.shard.shard_id,
                window.to_event()["start"],
                outcome.detail or outcome.verdict.value,
            )
            await asyncio.sleep(context.limits.delay_s(failures))

    async def _process_run(self, records: Sequence[SourceRecord], window: Window | None) -> None:
        context = self._context
        attempts: deque[Attempt] = deque([Attempt(tuple(records))])
        while attempts:
            attempt, expired = expire(attempts.popleft(), context.limits, context.wall_clock())
            if expired is not None:
                await self._give_up(expired)
            if not attempt.records:
                continue
            outcome = await self._invoke(attempt.records, window)
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

    async def _invoke(
        self, records: tuple[SourceRecord, ...], window: Window | None
    ) -> BatchOutcome:
        context = self._context
        event: dict[str, Any] = context.source.payload(context.shard, records)
        if window is not None and self._windows is not None:
            event = self._windows.event(event, window)
        ids = frozenset(record.record_id for record in records)
        context.health.in_flight += 1
        try:
            outcome = await context.orchestrator.invoke(context.mapping, event, ids)
        finally:
            context.health.in_flight -= 1
        if window is not None:
            outcome = self._absorb_state(outcome, ids)
        context.health.invoked(len(records), outcome)
        if context.result is not None:
            context.result.note(outcome.verdict)
        failed = sum(1 for record in records if outcome.failed(record))
        context.metrics.invoked(context.key, len(records), outcome.verdict, failed)
        newest = arrival_s(records[-1])
        if newest is not None:
            context.newest_arrival_s = max(newest, context.newest_arrival_s or newest)
        return outcome

    def _absorb_state(self, outcome: BatchOutcome, ids: frozenset[str]) -> BatchOutcome:
        """Keep the window state a successful invoke answered; none is a failed invoke."""
        result = outcome.result
        if self._windows is None or result is None or not outcome.verdict.ran:
            return outcome
        if outcome.verdict is BatchVerdict.FUNCTION_ERROR:
            return outcome
        response = self._windows.absorb(result.payload)
        if response.succeeded:
            return outcome
        return BatchOutcome(BatchVerdict.FUNCTION_ERROR, ids, response.error or "", result=result)

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
