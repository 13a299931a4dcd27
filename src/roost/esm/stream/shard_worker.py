"""``ShardWorker``: one shard of a stream mapping, read in order and processed to its end.

It claims the shard's checkpoint (fencing any previous owner), reads the shard
from there (or from the mapping's starting position the first time), drops
records no filter accepts, deals the rest to ``ParallelizationFactor`` lanes
by partition key and lets the lanes invoke. Reading stays at most a few
batches ahead of the lanes, so a blocked lane (a batch being retried) stops
the reads instead of filling memory. When a closed shard (split, merged, or a
DynamoDB shard rolled over) has been read and processed to its end, it marks
the checkpoint closed: the shard's children may start. Each read after the first
goes through the worker's ``PollGuard`` (backpressure pacing and the stream
endpoint's circuit breaker), which hears how it went.

A lane or the read loop that fails unexpectedly (a bug) ends the whole worker
(``failed``): its batch in flight would never be done, so the checkpoint could
not move past it again. The runner stops a failed worker and starts a new one
from the checkpoint, which replays what was not done (at-least-once).

A worker whose checkpoint another owner claimed (``fenced``: this poller lost
the shard's lease while stalled) stops its lanes at once: the new owner
replays whatever they still held, and none of their checkpoint writes could
land anyway. The runner does not replace it, as the shard is no longer its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from roost.esm.buffer import BatchPolicy
from roost.esm.connector import SourceRecord
from roost.esm.filtering import FilterCriteria
from roost.esm.poll_guard import PollGuard
from roost.esm.positions import pinned_start, resume_position
from roost.esm.shards import IteratorPosition, IteratorType, Shard
from roost.esm.stream.lane import Lane, LaneContext
from roost.esm.stream.poll_pacer import DEFAULT_MIN_INTERVAL_S, PollPacer
from roost.esm.stream.source import PartitionReader
from roost.esm.stream.tumbling_window import TumblingWindows
from roost.esm.stream_checkpoint import StreamCheckpointManager
from roost.loop_guard import LoopGuard

log = logging.getLogger(__name__)

# Its failures count with the guarded loops' in /metrics (roost_loop_failures_total).
WORKER_LOOP_KIND = "stream shard worker"


@dataclass(frozen=True)
class ShardWorkerSettings:
    """Timing and read-ahead of shard workers."""

    min_poll_interval_s: float = DEFAULT_MIN_INTERVAL_S
    max_poll_interval_s: float = 2.0
    # Reads stop while the lanes hold this many batches' worth of records.
    read_ahead_batches: int = 2
    checkpoint_retry_s: float = 1.0


def worker_failures(mapping_uuid: str, shard_id: str) -> LoopGuard:
    """The guard that logs and counts unexpected failures of a shard's workers."""
    return LoopGuard(f"mapping {mapping_uuid} shard {shard_id} worker", log, kind=WORKER_LOOP_KIND)


def lane_of(group: str | None, lanes: int) -> int:
    """The lane of a partition key: stable across runs and processes (not ``hash``)."""
    if lanes <= 1 or group is None:
        return 0
    return zlib.crc32(group.encode()) % lanes


class ShardWorker:
    """Processes one shard; ``start``, then ``stop`` or wait for ``done``."""

    def __init__(
        self,
        context: LaneContext,
        checkpoint: StreamCheckpointManager,
        start: IteratorPosition,
        *,
        lanes: int,
        policy: BatchPolicy,
        criteria: FilterCriteria | None,
        settings: ShardWorkerSettings,
        progress: Callable[[], None],
        on_done: Callable[[], None] = lambda: None,
        guard: PollGuard | None = None,
        failures: LoopGuard | None = None,
    ) -> None:
        """``failures`` logs and counts this worker's unexpected failure (the runner
        keeps one per shard across the workers it starts)."""
        self.context = context
        self._checkpoint = checkpoint
        self._start = start
        self._policy = policy
        self._criteria = criteria
        self._settings = settings
        self._progress = progress
        self._on_done = on_done
        self._guard = guard or PollGuard(context.source.arn)
        self._failures = failures or worker_failures(context.mapping.uuid, self.shard_id)
        checkpoint.on_fenced = self._fence
        window_s = context.mapping.settings.tumbling_window_s or 0
        self._lanes = [
            Lane(i, context, policy, self._windows(window_s)) for i in range(max(1, lanes))
        ]
        self._pacer = PollPacer(settings.min_poll_interval_s, settings.max_poll_interval_s)
        self._room = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reader: PartitionReader | None = None
        # Whether the first records read must pin the start (a LATEST start).
        self._pin_start = False
        self.done = asyncio.Event()
        # A lane or the read loop died of an unexpected error: nothing runs any more.
        self.failed = False
        # Another owner claimed the checkpoint: nothing runs any more, and this
        # worker must not be replaced while the shard is another poller's.
        self.fenced = False
        self.millis_behind_latest: int | None = None
        self.records_behind: int | None = None

    def _windows(self, window_s: int) -> TumblingWindows | None:
        if window_s <= 0 or not self.context.source.keyed:
            return None  # Kafka mappings have no tumbling windows, as on AWS
        return TumblingWindows(window_s, self.context.shard.shard_id, self.context.source.arn)

    @property
    def shard_id(self) -> str:
        """The shard this worker processes."""
        return self.context.shard.shard_id

    @property
    def lanes(self) -> int:
        """How many lanes (concurrent batches) the shard has."""
        return len(self._lanes)

    @property
    def iterator_age_s(self) -> float:
        """Now minus the arrival of the newest record invoked (0 when caught up)."""
        newest = self.context.newest_arrival_s
        if newest is None or (self._caught_up() and self.millis_behind_latest in (0, None)):
            return 0.0
        return max(0.0, self.context.wall_clock() - newest)

    async def start(self) -> None:
        """Claim the checkpoint and take the first read (so ``LATEST`` is fixed now)."""
        claimed = await self._checkpoint.claim()
        if claimed.closed:
            self._set_done()
            return
        start = self._start
        if claimed.position is not None:
            start = resume_position(claimed.position)
        # LATEST moves on: the first records read pin the start (see positions).
        self._pin_start = start.type is IteratorType.LATEST
        self._reader = self.context.source.reader(self.context.shard, start)
        await self._read_once()
        if self.fenced:
            return  # no lanes, no read loop: the runner neither reports nor replaces it
        loop = asyncio.get_running_loop()
        name = f"esm-shard {self.context.mapping.uuid} {self.shard_id}"
        self._tasks = [
            loop.create_task(lane.run(self._room.set), name=name) for lane in self._lanes
        ]
        self._tasks.append(loop.create_task(self._read_loop(), name=name))
        for task in self._tasks:
            task.add_done_callback(self._task_ended)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A lane or the read loop ended: an unexpected error fails the whole worker."""
        error = None if task.cancelled() else task.exception()
        if error is None or self.failed:
            return
        self.failed = True
        # The runner starts a new worker from the checkpoint; a bug that fails
        # every one of them logs its traceback once.
        self._failures.failed(error)
        # The other lanes must not run on: a new worker will read their records again.
        for other in self._tasks:
            other.cancel()

    def _fence(self) -> None:
        """The checkpoint is another owner's: stop the lanes and the read loop now
        (called when a refused write finds it so, which may be from one of them)."""
        if not self.fenced:
            self.fenced = True
            log.warning(
                "mapping %s shard %s: another poller owns it now; stopping its worker",
                self.context.mapping.uuid,
                self.shard_id,
            )
        # Every time: found while starting, there were no tasks to cancel yet.
        for task in self._tasks:
            task.cancel()

    def reconfigure(self, policy: BatchPolicy, criteria: FilterCriteria | None) -> None:
        """New batch settings and filters (a mapping update)."""
        self._policy, self._criteria = policy, criteria
        for lane in self._lanes:
            lane.reconfigure(policy)

    async def stop(self, grace_s: float) -> None:
        """Stop reading; batches being invoked may finish for ``grace_s``, then cancel.

        What is not done stays behind the checkpoint and is read again by the
        shard's next owner.
        """
        reader_task, lane_tasks = self._tasks[-1:], self._tasks[:-1]
        for task in reader_task:
            task.cancel()
        # No tasks at all if start() found the shard's checkpoint already closed.
        lanes = self._lanes if lane_tasks else []
        busy = [task for task, lane in zip(lane_tasks, lanes, strict=True) if lane.busy]
        if busy:
            await asyncio.wait(busy, timeout=grace_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.context.tracker.settle()
            await self._checkpoint.flush()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader.close()

    def update_shard(self, shard: Shard) -> None:
        """The latest listing of the shard (it may have closed since)."""
        if self._reader is not None:
            self._reader.update_shard(shard)

    def _read_ahead(self) -> int:
        """Records the lanes may hold before reads stop: a few batches per lane."""
        return self._policy.batch_size * self._settings.read_ahead_batches * len(self._lanes)

    def _buffered(self) -> int:
        return sum(lane.pending for lane in self._lanes)

    def _caught_up(self) -> bool:
        return all(lane.idle for lane in self._lanes)

    async def _read_loop(self) -> None:
        reader = self._reader
        assert reader is not None
        while not reader.finished:
            if self._checkpoint.fenced:
                self._fence()
                return
            if self._buffered() >= self._read_ahead():
                self._room.clear()
                await self._room.wait()
                continue
            if not await self._guard.admit():
                self._progress()  # holding back on purpose is not a stall
                continue
            try:
                got = await self._read_once()
            except Exception as error:
                log.warning("shard %s: read failed: %s", self.shard_id, error)
                self._guard.failed()
                self._pacer.throttled()
                got = 0
            else:
                self._guard.succeeded()
            if not got:
                await asyncio.sleep(self._pacer.interval_s)
        await self._finish()

    async def _read_once(self) -> int:
        """One read, dealt to the lanes; how many records it brought."""
        reader = self._reader
        assert reader is not None
        room = self._read_ahead()
        limit = max(1, min(self.context.source.max_records_per_read, room - self._buffered()))
        read = await reader.read(limit)
        self._progress()
        if read.throttled:
            self._pacer.throttled()
            return 0
        self._pacer.read_ok()
        self.millis_behind_latest = read.millis_behind_latest
        self.records_behind = read.records_behind
        behind = (read.millis_behind_latest, read.records_behind)
        self.context.at_tip = len(read.records) < limit and all(b in (0, None) for b in behind)
        if read.records:
            if self._pin_start:
                self._pin_start = False
                await self._checkpoint.pin_start(pinned_start(read.records[0].record_id))
                if self._checkpoint.fenced:
                    return 0  # another owner has the shard: its records are not ours
            await self._deal(read.records)
        return len(read.records)

    async def _deal(self, records: Sequence[SourceRecord]) -> None:
        self.context.tracker.begin(records)
        kept: list[list[SourceRecord]] = [[] for _ in self._lanes]
        dropped: list[SourceRecord] = []
        keyed = self.context.source.keyed
        for record in records:
            criteria = self._criteria
            if criteria is not None and not criteria.matches(record.event_record):
                dropped.append(record)
                continue
            kept[lane_of(record.group if keyed else None, len(self._lanes))].append(record)
        for lane, batch in zip(self._lanes, kept, strict=True):
            if batch:
                lane.add(batch)
        if dropped:
            self.context.metrics.filtered(self.context.key, len(dropped))
            await self.context.tracker.done(dropped)

    async def _finish(self) -> None:
        """The shard was read to its end: once every record is done, close the checkpoint."""
        while not (self._caught_up() and self.context.tracker.outstanding == 0):
            self._room.clear()
            await self._room.wait()
        for lane in self._lanes:
            await lane.close_windows()  # "when the shard ends, the window is closed"
        while not await self._checkpoint.finish():
            if self._checkpoint.fenced:
                self._fence()
                return
            await asyncio.sleep(self._settings.checkpoint_retry_s)
        log.info("mapping %s: shard %s finished", self.context.mapping.uuid, self.shard_id)
        self._set_done()
        if self._reader is not None:
            await self._reader.close()

    def _set_done(self) -> None:
        self.done.set()
        self._on_done()
