"""``StreamMappingRunner``: one stream mapping at work inside a poller.

A poller runs the shards of a mapping whose leases it holds (see
``shard_catalog``: shards, not mappings, are leased), so one mapping's shards
may be spread over several pollers and nodes. The runner lists the stream's
shards every ``shard_refresh_s`` (which is how a split or a merge is seen
closing a shard), plans its shards from the mapping's checkpoints
(``roost.esm.positions``: read from the checkpoint, from the starting
position, or wait for the parents) and keeps one ``ShardWorker`` per assigned
shard to read. A worker that finishes a closed shard calls ``nudge``: the
poller's keepers look again at once, so the children get leased without
waiting for the next heartbeat. Without an assignment (``assigned=None``) the
runner reads every shard itself (one poller for the whole mapping).

Each worker claims its shard's checkpoint when it starts, so a poller that
lost a shard (stalled, then taken over) cannot move its checkpoint again.

A worker that failed (an unexpected error in a lane or its read loop) is
replaced at the next refresh, from the checkpoint. Until then its shard gets
no progress reports: if it cannot be replaced, anti-entropy frees its lease.
A fenced worker (another owner claimed its checkpoint) is not replaced and
gets no progress reports either: if this poller's keeper still renews the
shard's lease, its stall check gives the lease up (``stall_after_s``) and
the shard is unassigned; if the shard is assigned to it again, a new worker
starts. (A runner that reads every shard itself gets no progress reports at
all then, and its mapping's lease goes the same way.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid as uuid_module
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from roost.cancellation import within
from roost.esm.buffer import MAX_PAYLOAD_BYTES, BatchPolicy
from roost.esm.health import MappingHealth, PollerHealth
from roost.esm.mapping import EventSourceMapping
from roost.esm.metrics import EsmMetrics, MappingKey, RunningFigures, ShardFigures
from roost.esm.orchestrator import InvokeOrchestrator
from roost.esm.poll_guard import PollGuard
from roost.esm.positions import ShardAction, mapping_starting_position, plan_shards
from roost.esm.runner import filter_criteria
from roost.esm.shards import IteratorPosition, Shard
from roost.esm.source_opener import SourceOpener
from roost.esm.stream.batch_retry import RetryLimits
from roost.esm.stream.lane import FailureSink, LaneContext
from roost.esm.stream.processing_result import LastProcessingResult, ResultWriter
from roost.esm.stream.read_tracker import ReadTracker
from roost.esm.stream.shard_catalog import shard_resource
from roost.esm.stream.shard_worker import ShardWorker, ShardWorkerSettings, worker_failures
from roost.esm.stream.source import StreamSource
from roost.esm.stream_checkpoint import StreamCheckpointManager
from roost.flow.backpressure import STREAM_READ, HostPressure
from roost.flow.circuit_breaker import BreakerBoard
from roost.loop_guard import LoopGuard
from roost.store.ports import CheckpointStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSettings:
    """Timing of stream runners."""

    shard_refresh_s: float = 5.0
    open_retry_s: float = 1.0
    max_open_retry_s: float = 30.0
    give_up_retry_s: float = 1.0
    worker: ShardWorkerSettings = field(default_factory=ShardWorkerSettings)


ShardListing = Callable[[EventSourceMapping], Awaitable[dict[str, Shard] | None]]
"""A mapping's shards by id, as last listed (None: the stream could not be listed)."""


@dataclass(frozen=True)
class StreamDeps:
    """What every stream runner of a poller shares."""

    orchestrator: InvokeOrchestrator
    checkpoints: CheckpointStore
    failures: FailureSink
    poller_health: PollerHealth
    progress: Callable[[str], None]
    holds: Callable[[str], bool]
    owner: str
    metrics: EsmMetrics = field(default_factory=EsmMetrics)
    settings: StreamSettings = field(default_factory=StreamSettings)
    # A shard finished: its children are ready to be leased.
    nudge: Callable[[], None] = lambda: None
    # Stores a mapping's LastProcessingResult (None: not stored).
    write_result: ResultWriter | None = None
    # The mapping's shards as the poller's lease catalog last listed them (None:
    # each runner lists its own stream), so a stream is listed once per refresh.
    shard_listing: ShardListing | None = None
    # Circuit breakers of stream endpoints, and the host's backpressure (None: off).
    breakers: BreakerBoard | None = None
    pressure: HostPressure | None = None


class StreamMappingRunner:
    """Runs every shard of one stream mapping until ``stop``."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        source: StreamSource,
        deps: StreamDeps,
        clock: Callable[[], float] = time.monotonic,
        *,
        assigned: set[str] | None = None,
    ) -> None:
        self.mapping = mapping
        self.source = source
        self._deps = deps
        # The shards this poller holds ("" for none: the mapping's placeholder).
        self._assigned = assigned
        self.health = MappingHealth(clock)
        self.workers: dict[str, ShardWorker] = {}
        # Per shard, across the workers started for it: a bug that fails each of
        # them logs its traceback once.
        self._worker_failures: dict[str, LoopGuard] = {}
        self._wake = asyncio.Event()
        self._opener = SourceOpener(
            mapping.uuid,
            source.open,
            self._report_progress,
            deps.settings.open_retry_s,
            deps.settings.max_open_retry_s,
            deps.breakers,
            mapping.source.key,
        )
        self._opened = self._opener.first_attempt
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self.result = LastProcessingResult(mapping.uuid, deps.write_result or _not_stored)

    @property
    def uuid(self) -> str:
        """The mapping's UUID."""
        return self.mapping.uuid

    @property
    def idle(self) -> bool:
        """Whether the poller holds nothing of the mapping any more."""
        return self._assigned is not None and not self._assigned

    async def assign(self, shard_id: str) -> None:
        """The poller took the lease of ``shard_id`` ("" for the placeholder): read it."""
        if self._assigned is None:
            raise RuntimeError("this runner reads every shard of its mapping")
        self._assigned.add(shard_id)
        worker = self.workers.get(shard_id)
        if worker is not None and worker.fenced:
            # The shard is ours again: its old worker gives way to a new one.
            await self.workers.pop(shard_id).stop(0)
        if self._opened.is_set() and not self._opener.error:
            await self._refresh_safely()

    async def unassign(self, shard_id: str, grace_s: float) -> None:
        """The poller is giving up ``shard_id``: stop reading it."""
        if self._assigned is not None:
            self._assigned.discard(shard_id)
        worker = self.workers.pop(shard_id, None)
        self._worker_failures.pop(shard_id, None)
        if worker is not None:
            await worker.stop(grace_s)

    def _resource(self, shard_id: str) -> str:
        return shard_resource(self.uuid, shard_id)

    def _report_progress(self) -> None:
        """Progress for each shard held, but those whose worker failed or was fenced
        (a dead worker must not keep a lease alive)."""
        if self._assigned is None:
            if not any(_stopped(worker) for worker in self.workers.values()):
                self._deps.progress(self.uuid)
            return
        for shard_id in self._assigned:
            worker = self.workers.get(shard_id)
            if worker is None or not _stopped(worker):
                self._deps.progress(self._resource(shard_id))

    def _holds(self, shard_id: str) -> bool:
        resource = self.uuid if self._assigned is None else self._resource(shard_id)
        return self._deps.holds(resource)

    @property
    def open_error(self) -> str | None:
        """Why the stream is not open (``PROBLEM: ...``), None once it is."""
        return self._opener.error

    @property
    def key(self) -> MappingKey:
        """The mapping as ``/metrics`` labels it."""
        return MappingKey(self.uuid, self.mapping.function_arn)

    def running(self) -> RunningFigures:
        """Batches invoking now, and how many could (lanes of every shard read)."""
        workers = list(self.workers.values())
        shards = tuple(
            ShardFigures(w.shard_id, w.iterator_age_s, w.millis_behind_latest, w.records_behind)
            for w in workers
        )
        return RunningFigures(self.health.in_flight, sum(w.lanes for w in workers), shards)

    async def start(self) -> None:
        """Open the source, start the shards it may read (first attempt awaited)."""
        self._deps.poller_health.track(self.uuid, self.health)
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"esm-stream-runner {self.uuid}"
        )
        await self._opened.wait()

    async def update(self, mapping: EventSourceMapping) -> None:
        """New settings: batch settings, filters and retries apply to the next batches;
        a new ``ParallelizationFactor`` or tumbling window restarts the shards from
        their checkpoints."""
        old = self.mapping
        self.mapping = mapping
        lanes_changed = any(
            getattr(old.settings, name) != getattr(mapping.settings, name)
            for name in ("parallelization_factor", "tumbling_window_s")
        )
        if lanes_changed:
            await self._stop_workers(self._deps.settings.give_up_retry_s)
            self._wake.set()
            return
        for worker in self.workers.values():
            worker.context.mapping = mapping
            worker.context.limits = self._limits()
            worker.reconfigure(self._policy(), filter_criteria(mapping))

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop listing and reading; batches in flight get ``grace_s`` to finish."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        await self._stop_workers(grace_s)
        self._deps.poller_health.untrack(self.uuid)
        await self.source.close()

    async def _stop_workers(self, grace_s: float) -> None:
        workers, self.workers = list(self.workers.values()), {}
        await asyncio.gather(*(w.stop(grace_s) for w in workers), return_exceptions=True)

    async def _supervise(self) -> None:
        try:
            await self._opener.run()
            await self._refresh_safely()
        finally:
            self._opened.set()
        while True:
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), self._deps.settings.shard_refresh_s)
            self._wake.clear()
            await self._refresh_safely()
            await self._follow_retention()
            self._report_progress()
            if self._opener.error:
                self.result.problem(self._opener.error)
            await self.result.publish()

    async def _follow_retention(self) -> None:
        """A changed stream retention reaches the running shards' retry limits."""
        before = self.source.retention_s
        await self.source.refresh_retention()
        if self.source.retention_s != before:
            for worker in self.workers.values():
                worker.context.limits = self._limits()

    def _limits(self) -> RetryLimits:
        """The retry limits of the mapping's shards, as the stream keeps records now."""
        return RetryLimits.of(self.mapping, self.source.retention_s)

    async def _refresh_safely(self) -> None:
        try:
            await self.refresh()
        except Exception as error:
            log.warning("mapping %s: listing shards failed: %s", self.uuid, error)

    async def refresh(self) -> None:
        """List the shards and start a worker for each assigned shard to read now."""
        for shard_id in [s for s, w in self.workers.items() if w.done.is_set()]:
            del self.workers[shard_id]
            self._worker_failures.pop(shard_id, None)
        for shard_id, running in self.workers.items():
            if not _stopped(running) and shard_id in self._worker_failures:
                # Alive for a whole refresh: a failure after this is news again.
                self._worker_failures[shard_id].succeeded()
        listed = await self._listed()
        if listed is None:
            return  # the catalog could not list the stream; it said why
        # A failed worker is replaced only now: kept while the listing fails, it
        # keeps its shard from reporting progress.
        for shard_id in [s for s, w in self.workers.items() if w.failed]:
            # Stopped first: it writes what was done, and the new worker starts there.
            await self.workers.pop(shard_id).stop(0)
        checkpoints = {c.shard_id: c for c in await self._deps.checkpoints.list(self.uuid)}
        plans = plan_shards(listed, checkpoints, mapping_starting_position(self.mapping))
        for shard_id, plan in plans.items():
            worker = self.workers.get(shard_id)
            if worker is not None:
                worker.update_shard(listed[shard_id])
                continue
            mine = self._assigned is None or shard_id in self._assigned
            readable = plan.action is ShardAction.READ and plan.start is not None
            if mine and readable and plan.start is not None and not self._stopping:
                await self._start_worker(listed[shard_id], plan.start)

    async def _listed(self) -> dict[str, Shard] | None:
        if self._deps.shard_listing is not None:
            return await self._deps.shard_listing(self.mapping)
        return {shard.shard_id: shard for shard in await self.source.list_shards()}

    def _policy(self) -> BatchPolicy:
        return BatchPolicy.of(self.mapping.settings, MAX_PAYLOAD_BYTES)

    async def _start_worker(self, shard: Shard, start: IteratorPosition) -> None:
        deps = self._deps
        shard_id = shard.shard_id
        checkpoint = StreamCheckpointManager(
            deps.checkpoints, self.uuid, shard_id, deps.owner, lambda: self._holds(shard_id)
        )
        context = LaneContext(
            mapping=self.mapping,
            source=self.source,
            shard=shard,
            orchestrator=deps.orchestrator,
            tracker=ReadTracker(checkpoint, lambda at: self.source.checkpointed(shard, at)),
            failures=deps.failures,
            health=self.health,
            metrics=deps.metrics,
            limits=self._limits(),
            give_up_retry_s=deps.settings.give_up_retry_s,
            result=self.result,
        )
        lanes = (self.mapping.settings.parallelization_factor or 1) if self.source.keyed else 1
        worker = ShardWorker(
            context,
            checkpoint,
            start,
            lanes=lanes,
            policy=self._policy(),
            criteria=filter_criteria(self.mapping),
            settings=deps.settings.worker,
            progress=self._report_progress,
            on_done=self._shard_done,
            guard=PollGuard(
                self.mapping.source.key,
                deps.breakers,
                deps.pressure,
                STREAM_READ,
                deps.settings.worker.max_poll_interval_s,
            ),
            failures=self._worker_failures.setdefault(
                shard_id, worker_failures(self.uuid, shard_id)
            ),
        )
        self.workers[shard.shard_id] = worker
        try:
            await worker.start()
        except Exception:
            del self.workers[shard.shard_id]
            raise
        log.info("mapping %s: reading %s from %s", self.uuid, shard.shard_id, start.type.value)

    def _shard_done(self) -> None:
        """A shard was read to its end: its children may start (here, or on another poller)."""
        self._wake.set()
        self._deps.nudge()


def _stopped(worker: ShardWorker) -> bool:
    """Whether the worker stopped for good: failed (until replaced) or fenced."""
    return worker.failed or worker.fenced


async def _not_stored(uuid: str, result: str) -> None:
    """A runner without a mapping store (tests) keeps its result in memory."""


def new_owner(poller_id: str) -> str:
    """A checkpoint owner id unique to one poller incarnation."""
    return f"{poller_id}:{uuid_module.uuid4().hex[:12]}"
