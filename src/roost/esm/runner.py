"""``MappingRunner``: one mapping at work inside a poller, its parts composed.

connector -> buffer (filter, batch) -> invoke orchestrator -> error handler ->
checkpoint manager, run by as many batch loops as the autoscaler wants and the
load shedder allows. Each batch loop reads until its buffer holds a batch,
invokes it, and commits what is done; the supervisor task opens the connector,
moves the number of loops, and reports progress for anti-entropy.

Before each poll the runner's ``PollGuard`` paces it by the host's pressure
and asks the ``event_source`` circuit breaker of the mapping's endpoint; each
poll's outcome is reported to it.

An invoke only starts through the runner's gate (``AdaptiveSemaphore``), whose limit is
the mapping's ceiling (``MaximumConcurrency``): lowering it with an update
holds new invokes back until enough running ones ended, so the cap holds even
while loops are being scaled down.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from roost.esm.autoscaler import Autoscaler, ScalingLimits, ScalingSettings
from roost.esm.buffer import MAX_PAYLOAD_BYTES, BatchPolicy, RecordBuffer
from roost.esm.checkpoint import CheckpointManager
from roost.esm.connector import SourceConnector, SourceRecord
from roost.esm.error_handler import ErrorHandler
from roost.esm.filtering import FilterCriteria, parse_filter_criteria
from roost.esm.health import MappingHealth, PollerHealth
from roost.esm.load_shedder import LoadShedder
from roost.esm.mapping import EventSourceMapping
from roost.esm.metrics import EsmMetrics, MappingKey, RunningFigures
from roost.esm.orchestrator import InvokeOrchestrator
from roost.esm.poll_guard import PollGuard
from roost.esm.source_opener import SourceOpener
from roost.esm.validation import FILTER_KINDS
from roost.flow.adaptive_semaphore import AdaptiveSemaphore
from roost.flow.circuit_breaker import BreakerBoard
from roost.loop_guard import LoopGuard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerSettings:
    """Timing of a runner."""

    poll_wait_s: float = 20.0
    supervise_interval_s: float = 0.5
    shed_wait_s: float = 0.1
    open_retry_s: float = 1.0
    max_open_retry_s: float = 30.0
    poll_error_retry_s: float = 1.0
    max_payload_bytes: int = MAX_PAYLOAD_BYTES


@dataclass(frozen=True)
class RunnerDeps:
    """What every runner of a poller shares."""

    orchestrator: InvokeOrchestrator
    errors: ErrorHandler
    shedder: LoadShedder
    poller_health: PollerHealth
    scaling: ScalingSettings
    progress: Callable[[str], None]
    holds: Callable[[str], bool]
    metrics: EsmMetrics = field(default_factory=EsmMetrics)
    # Circuit breakers of event source endpoints (None: not guarded).
    breakers: BreakerBoard | None = None


def filter_criteria(mapping: EventSourceMapping) -> FilterCriteria | None:
    """The mapping's compiled filters (None: no filtering)."""
    raw = mapping.settings.filter_criteria
    if not raw or not raw.get("Filters"):
        return None
    return parse_filter_criteria(raw, FILTER_KINDS[mapping.source.type])


class MappingRunner:
    """Runs one mapping until ``stop``; ``update`` applies new settings live."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        connector: SourceConnector,
        deps: RunnerDeps,
        settings: RunnerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mapping = mapping
        self.connector = connector
        self._deps = deps
        self._settings = settings or RunnerSettings()
        self._clock = clock
        self.health = MappingHealth(clock)
        limits = ScalingLimits.of(mapping.settings, deps.scaling)
        self.autoscaler = Autoscaler(limits, deps.scaling)
        self._ceiling = limits.ceiling
        self.gate = AdaptiveSemaphore(lambda: self._ceiling)
        self._criteria = filter_criteria(mapping)
        self._policy = BatchPolicy.of(mapping.settings, self._settings.max_payload_bytes)
        self.checkpoint = CheckpointManager(connector, self._may_commit)
        self._loops: dict[int, asyncio.Task[None]] = {}
        self._buffers: dict[int, RecordBuffer] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._opener = SourceOpener(
            mapping.uuid,
            connector.open,
            lambda: deps.progress(mapping.uuid),
            self._settings.open_retry_s,
            self._settings.max_open_retry_s,
            deps.breakers,
            mapping.source.key,
        )
        self._opened = self._opener.first_attempt
        self._guard = PollGuard(
            mapping.source.key,
            deps.breakers,
            deps.shedder.pressure,
            max_wait_s=self._settings.poll_error_retry_s,
        )
        self._draining = False
        self._scaled_at = clock()
        # Ordered sources: the batch loop each message group is with right now.
        self._claimed: dict[str | None, int] = {}
        # ... and the groups whose failed records are still hidden in the source, until when.
        self._blocked_until: dict[str | None, float] = {}

    @property
    def uuid(self) -> str:
        """The mapping's UUID."""
        return self.mapping.uuid

    @property
    def open_error(self) -> str | None:
        """Why the source is not open (``PROBLEM: ...``), None once it is."""
        return self._opener.error

    @property
    def loops(self) -> int:
        """Batch loops running now."""
        return len(self._loops)

    @property
    def key(self) -> MappingKey:
        """The mapping as ``/metrics`` labels it."""
        return MappingKey(self.uuid, self.mapping.function_arn)

    def running(self) -> RunningFigures:
        """Batches invoking now, and how many loops the autoscaler wants."""
        return RunningFigures(self.health.in_flight, self._wanted())

    def _may_commit(self) -> bool:
        # While draining (the lease is being given up, not yet released) the
        # batches already invoked may still commit: nobody else holds the mapping.
        return self._draining or self._deps.holds(self.uuid)

    async def start(self) -> None:
        """Open the connector (the first attempt is awaited) and start working."""
        self._deps.poller_health.track(self.uuid, self.health)
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"esm-runner {self.uuid}"
        )
        await self._opened.wait()

    async def update(self, mapping: EventSourceMapping) -> None:
        """New settings (batch size, window, filters, scaling): the next batches use them."""
        self.mapping = mapping
        self._criteria = filter_criteria(mapping)
        self._policy = BatchPolicy.of(mapping.settings, self._settings.max_payload_bytes)
        for buffer in self._buffers.values():
            buffer.reconfigure(self._policy, self._criteria)
        limits = ScalingLimits.of(mapping.settings, self._deps.scaling)
        self.autoscaler.reconfigure(limits)
        self._ceiling = limits.ceiling
        self.gate.wake()  # A higher ceiling lets waiting invokes in now.
        self._resize()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop reading; let invokes in flight finish and commit for up to ``grace_s``,
        then cancel the rest (their records come back from the source)."""
        self._draining = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        loops = list(self._loops.values())
        if loops:
            _, pending = await asyncio.wait(loops, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
        leftovers = [r for buffer in self._buffers.values() for r in buffer.drain()]
        if leftovers:
            # Whatever stopped it (shutdown, disable, delete, a lease moving on): the
            # records it held and never invoked go back now, not after their
            # visibility timeout. A lease lost or given up is already forgotten by
            # the time ``stop`` runs, so asking whether it is held would keep them.
            await self.checkpoint.release(leftovers)
        self._deps.poller_health.untrack(self.uuid)
        await self.connector.close()

    async def _supervise(self) -> None:
        try:
            await self._opener.run()
        finally:
            self._opened.set()
        # Without its supervisor a mapping keeps its lease but is never scaled again.
        guard = LoopGuard(f"mapping {self.uuid}: supervising", log, kind="mapping supervisor")
        while True:
            with guard.turn():
                now = self._clock()
                if now - self._scaled_at >= self._deps.scaling.interval_s:
                    self._scaled_at = now
                    self.autoscaler.decide(self.health.roll())
                self._resize()
                if self.health.in_flight:
                    self._deps.progress(self.uuid)  # a long invoke is progress too
            await asyncio.sleep(self._settings.supervise_interval_s)

    def _wanted(self) -> int:
        if self._draining:
            return 0
        return self._deps.shedder.limit(self.autoscaler.target, self.autoscaler.limits.floor)

    def _resize(self) -> None:
        """Start loops up to the wanted number; loops above it end after their batch."""
        if self._draining or not self._opened.is_set() or self.open_error:
            return
        for index in range(self._wanted()):
            if index not in self._loops:
                task = asyncio.get_running_loop().create_task(self._loop(index))
                self._loops[index] = task
                task.add_done_callback(functools.partial(self._loop_done, index))

    def _loop_done(self, index: int, _: asyncio.Task[None]) -> None:
        task = self._loops.pop(index, None)
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("mapping %s: batch loop failed", self.uuid, exc_info=task.exception())

    async def _loop(self, index: int) -> None:
        buffer = self._buffers.setdefault(index, RecordBuffer(self._policy, self._criteria))
        # Scaled down, a loop still invokes what it buffered; stopping, it does not
        # (``stop`` hands those records back to the source).
        while not self._draining and (index < self._wanted() or buffer.pending):
            if not self._deps.shedder.admit():
                await asyncio.sleep(self._settings.shed_wait_s)
                continue
            try:
                batch = await self._fill(index, buffer, stop_early=index >= self._wanted())
                if batch:
                    await self._process(batch)
                    await self._hold_back_blocked(buffer)
                else:
                    await asyncio.sleep(0)  # an empty read must not starve the loop
            finally:
                self._unclaim(index, buffer)
        if not buffer.pending:
            self._buffers.pop(index, None)

    def _claim(self, index: int, records: list[SourceRecord]) -> list[SourceRecord]:
        """Keep the records of groups no other loop holds; return the others.

        SQS keeps a FIFO group from two consumers at once, but a receive that
        started before a group went in flight may still hand out its next
        message (moto's server does): such records go back to the queue, which
        delivers them again after the group's earlier messages.
        """
        if not self.connector.ordered:
            return []
        now = self._clock()
        deferred: list[SourceRecord] = []
        for record in records:
            if self._blocked_until.get(record.group, now) > now:
                deferred.append(record)  # its group's failed records come back first
                continue
            owner = self._claimed.setdefault(record.group, index)
            if owner != index:
                deferred.append(record)
        return deferred

    def _block(self, records: Sequence[SourceRecord]) -> None:
        """Failed records of an ordered source: their groups wait until they are back."""
        if not self.connector.ordered:
            return
        now = self._clock()
        self._blocked_until = {g: t for g, t in self._blocked_until.items() if t > now}
        for record in records:
            until = record.visible_until_s or now
            self._blocked_until[record.group] = max(until, self._blocked_until.get(record.group, 0))

    async def _release_after_failures(self, records: list[SourceRecord], now: float) -> None:
        """Hand back records of blocked groups, to become visible when the last of
        their groups' failed records does."""
        if records:
            delay_s = math.ceil(max(self._blocked_until[r.group] for r in records) - now)
            await self.checkpoint.release(records, delay_s)

    async def _hold_back_blocked(self, buffer: RecordBuffer) -> None:
        """After a failed batch of an ordered source, records of its failed groups still
        buffered (a batch cut short by the payload limit leaves some) go back to the
        source, to come again after the failed ones: invoked now, they would run first."""
        if not self.connector.ordered or not buffer.pending:
            return
        now = self._clock()
        blocked = {group for group, t in self._blocked_until.items() if t > now}
        if blocked:
            held = buffer.remove(lambda record: record.group in blocked)
            await self._release_after_failures(held, now)

    def _unclaim(self, index: int, buffer: RecordBuffer) -> None:
        if buffer.pending:
            return  # records of its groups still wait in the loop's buffer
        for group in [g for g, owner in self._claimed.items() if owner == index]:
            del self._claimed[group]

    async def _fill(
        self, index: int, buffer: RecordBuffer, *, stop_early: bool
    ) -> list[SourceRecord]:
        """Read until a batch is ready; [] after an empty read with nothing buffered."""
        while not buffer.ready():
            if stop_early:
                return buffer.take()
            wait_s = buffer.remaining_window_s() if buffer.pending else self._settings.poll_wait_s
            asked = max(1, min(buffer.room(), self.connector.max_records_per_poll))
            if not await self._guard.admit():
                self._deps.progress(self.uuid)  # holding back on purpose is not a stall
                return []
            try:
                records = await self.connector.poll(asked, wait_s)
            except Exception as error:
                log.warning("mapping %s: polling failed: %s", self.uuid, error)
                self._guard.failed()
                await asyncio.sleep(self._settings.poll_error_retry_s)
                return []
            self._guard.succeeded()
            self._deps.progress(self.uuid)
            self.health.polled(asked, len(records))
            if records:
                self.autoscaler.records_seen()
                self._resize()
            deferred = self._claim(index, records)
            if deferred:
                await self.checkpoint.release(deferred)
                held_back = {r.record_id for r in deferred}
                records = [r for r in records if r.record_id not in held_back]
            filtered = buffer.add(records)
            self._deps.metrics.filtered(self.key, len(filtered))
            await self.checkpoint.commit(filtered)
            if not records and not buffer.pending:
                return []
        return buffer.take()

    async def _process(self, batch: list[SourceRecord]) -> None:
        """Invoke ``batch`` (and retry what the error handler says), commit what is done."""
        attempt = 1
        while batch:
            await self.gate.acquire()
            self.health.in_flight += 1
            try:
                outcome = await self._deps.orchestrator.run(self.mapping, self.connector, batch)
            finally:
                self.health.in_flight -= 1
                self.gate.release()
            self.health.invoked(len(batch), outcome)
            failed = sum(1 for record in batch if outcome.failed(record))
            self._deps.metrics.invoked(self.key, len(batch), outcome.verdict, failed)
            disposition = self._deps.errors.dispose(
                batch, outcome, ordered=self.connector.ordered, attempt=attempt
            )
            await self.checkpoint.commit(disposition.commit)
            await self.checkpoint.release(disposition.release)
            if disposition.leave:
                self._block(disposition.leave)
                log.info(
                    "mapping %s: %d records failed (%s: %s); the source redelivers them",
                    self.uuid,
                    len(disposition.leave),
                    outcome.verdict.value,
                    outcome.detail,
                )
            if not disposition.retry:
                return
            await asyncio.sleep(disposition.retry_delay_s)
            batch, attempt = list(disposition.retry), attempt + 1
