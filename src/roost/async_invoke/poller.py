"""Async pollers: take events off the internal queues and run them.

Each poller long-polls the queues its ``QueueAssignment`` hands it (as their
leases come and go), one loop per queue, reports progress after every receive,
and runs every event it receives (up to ``concurrency`` at once) through the
sync invoke path. While an event runs, a heartbeat keeps it hidden;
if the node dies, the visibility timeout brings it back for another poller
(at-least-once). How an event's run settles its message (delete, a retry
copy, a backoff, OnFailure) is ``settle.EventSettler``'s.

Before an event starts, two token buckets are asked (``flow``): its tenant's
(``TenantBuckets``): without a token the event is put back for a short delay
(its receive not counted as a throttle), and the poller goes on with the other
events it received; then the node's drain bucket (``DrainGovernor``): the
poller waits for its token. Every attempt's outcome and latency is reported to
the governor (the handshake that tunes the drain rate) and its duration to the
tenant's bucket (whose rate follows it).

Backpressure (``flow.backpressure``): while the worker host is critical a
poller receives nothing new (events already received run on); while it is
elevated, low-priority events (retries, and backlog older than
``backlog_age_s``) are put back for ``shed_delay_s``, at most ``max_sheds``
receives each, so fresh events go first and nothing starves.

Backlog recovery (``BacklogRecovery``): while a queue is in backlog, a share of
each receive is taken newest-first, so fresh events run first while the
backlog drains behind. Backlog shards (``BacklogShards``): an event whose
(function, qualifier) has a shard queue open is moved there instead of being
admitted, and a shard queue is received from at its tenant bucket's pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from roost.async_invoke.backlog_shards import Move, paced_batch
from roost.async_invoke.event import AsyncEvent, MalformedEvent, decode
from roost.async_invoke.poller_deps import PollerDeps, PollerSettings
from roost.async_invoke.settle import EventSettler
from roost.async_invoke.visibility import VisibilityKeeper
from roost.cancellation import within
from roost.flow.backpressure import ASYNC_LOW_PRIORITY, ASYNC_RECEIVE
from roost.loop_guard import LoopGuard
from roost.store.errors import StoreUnavailable
from roost.store.ports import ReceivedMessage, ReceiveOrder

log = logging.getLogger(__name__)

STORE_RETRY_S = 1.0
# Pause before polling a queue again after an unexpected error in its loop.
POLL_RESTART_S = 1.0
# Messages one receive may take (SQS's maximum too).
RECEIVE_BATCH = 10


def _now_ms() -> int:
    return int(time.time() * 1000)


class AsyncPoller:
    """Polls its assigned queues and runs their events; ``start`` then ``stop``."""

    def __init__(
        self,
        poller_id: str,
        deps: PollerDeps,
        settings: PollerSettings,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self.poller_id = poller_id
        self._deps = deps
        self._settings = settings
        self._clock_ms = clock_ms
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._visibility = VisibilityKeeper(deps.queues, settings.visibility_timeout_s)
        self._settler = EventSettler(poller_id, deps, self._visibility, clock_ms)

    def start(self) -> None:
        """Begin polling (on the running loop): the assignment hands queues over."""
        self._visibility.start()
        self._main = asyncio.get_running_loop().create_task(
            self._deps.assignment.attach(self.poller_id, self)
        )

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop receiving and hand the queues on, let running events finish for up
        to ``grace_s``, then cancel the rest: their messages come back."""
        if self._main is not None:
            await asyncio.gather(self._main, return_exceptions=True)
        await self._deps.assignment.detach(self.poller_id)
        for queue in list(self._loops):
            await self.on_lost(queue)
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._visibility.stop()

    async def on_acquired(self, queue: str) -> None:
        """The poller holds ``queue`` now: poll it."""
        if queue not in self._loops:
            self._loops[queue] = asyncio.get_running_loop().create_task(self._keep_polling(queue))

    async def _keep_polling(self, queue: str) -> None:
        """``_poll``, started again after an unexpected error: a poller that holds a
        queue's lease must go on receiving from it. A polling task that died quietly
        kept its lease, so nobody polled the queue, and its events (acknowledged)
        waited until the lease keeper called it stalled, to die again at the next
        poller."""
        guard = LoopGuard(
            f"poller {self.poller_id} polling {queue}", log, kind="async poller queue loop"
        )
        while True:
            with guard.turn():
                await self._poll(queue)
            await asyncio.sleep(POLL_RESTART_S)

    async def on_lost(self, queue: str) -> None:
        """Stop receiving from ``queue`` (before its lease goes to another poller).
        Events already received run on; their messages stay hidden meanwhile."""
        task = self._loops.pop(queue, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _poll(self, queue: str) -> None:
        """Receive from ``queue`` and start its events within the free slots, forever.

        A receive takes as many messages as there are free slots (at least one,
        at most a batch), so a busy queue fills the slots in one store write and
        a quiet one costs one receive per event. The wait on a queue holds no
        slot (a poller may serve more queues than it has slots, and a slot held
        by a wait on an empty queue starves a busy one): messages received while
        other queues took the slots are kept hidden until slots free up."""
        while True:
            await self._hold_back(queue)
            try:
                messages = await self._receive_planned(queue, await self._batch_for(queue))
            except StoreUnavailable:
                log.warning("poller %s: queue store unavailable", self.poller_id)
                if self._deps.drain is not None:
                    self._deps.drain.store_failed()
                await asyncio.sleep(STORE_RETRY_S)
                continue
            self._deps.assignment.progress(self.poller_id, queue)
            if messages and self._deps.pressure is not None and self._deps.pressure.critical:
                # A long poll begun before the host turned critical: put its haul back.
                self._deps.pressure.defer(ASYNC_RECEIVE, len(messages))
                delay_s = self._deps.pressure.settings.interval_s
                await asyncio.gather(*(self._defer(queue, m, delay_s) for m in messages))
                continue
            self._visibility.hold(queue, messages)
            try:
                admitted = await self._admit(queue, messages)
            except BaseException:
                for waiting in messages:
                    self._visibility.release(waiting)  # Back after their timeout.
                raise
            for index, (message, event, runs) in enumerate(admitted):
                try:
                    await self._turn(runs)
                except BaseException:
                    for waiting, _, _ in admitted[index:]:
                        self._visibility.release(waiting)  # Back after their timeout.
                    raise
                task = asyncio.get_running_loop().create_task(
                    self._settler.handle(queue, message, event)
                )
                self._running.add(task)
                task.add_done_callback(self._finished)

    async def _hold_back(self, queue: str) -> None:
        """Backpressure: receive nothing new while the host is critical. Progress is
        still reported: a poller holding back on purpose is not stalled."""
        pressure = self._deps.pressure
        if pressure is None or not pressure.critical:
            return
        pressure.defer(ASYNC_RECEIVE)
        while pressure.critical:
            with contextlib.suppress(TimeoutError):
                await within(pressure.below_critical(), pressure.settings.interval_s)
            self._deps.assignment.progress(self.poller_id, queue)

    def _shed_delay(self, message: ReceivedMessage, event: AsyncEvent) -> float:
        """How long to put a low-priority event back while the host is elevated (0: run)."""
        pressure = self._deps.pressure
        if pressure is None or not pressure.elevated:
            return 0.0
        settings = pressure.settings
        low = event.invoke_count > 0 or event.age_s(self._clock_ms()) >= settings.backlog_age_s
        if not low or message.receive_count > settings.max_sheds:
            return 0.0
        pressure.defer(ASYNC_LOW_PRIORITY)
        return settings.shed_delay_s

    def _batch(self) -> int:
        """Messages the next receive may take: the slots free now, 1 to a batch."""
        free = self._settings.concurrency - len(self._running)
        if self._deps.gate is not None:
            free = min(free, self._deps.gate.free())
        return max(1, min(RECEIVE_BATCH, free))

    async def _batch_for(self, queue: str) -> int:
        """``_batch``, paced by the tenant bucket for a backlog shard's queue."""
        if self._deps.shards is None:
            return self._batch()
        return await paced_batch(
            self._deps.shards,
            self._deps.tenants,
            queue,
            self._batch(),
            lambda: self._deps.assignment.progress(self.poller_id, queue),
        )

    async def _admit(
        self, queue: str, messages: list[ReceivedMessage]
    ) -> list[tuple[ReceivedMessage, AsyncEvent | None, bool]]:
        """The messages to start now, decoded (None: malformed), each with whether it
        will run (not malformed, not expired); those whose tenant has no token now
        are put back, so they hold neither a slot nor the others, and those whose
        backlog shard has a queue of its own are moved there."""
        admitted: list[tuple[ReceivedMessage, AsyncEvent | None, bool]] = []
        deferrals = []
        moves: list[Move] = []
        for message in messages:
            try:
                event = decode(message.body)
            except MalformedEvent:
                admitted.append((message, None, False))
                continue
            if self._deps.backlog is not None:
                await self._deps.backlog.seen(queue, event)
            target = self._deps.shards.destination(queue, event) if self._deps.shards else None
            if target is not None:
                moves.append(Move(message, event, target))
                continue
            if await self._settler.expired_already(event):
                # Settled at once (to OnFailure): it must not wait for a token its
                # tenant's live events need, nor use one up, nor the drain's.
                admitted.append((message, event, False))
                continue
            delay_s = self._shed_delay(message, event) or await self._tenant_delay(event)
            if delay_s <= 0:
                admitted.append((message, event, True))
            else:
                deferrals.append(self._defer(queue, message, delay_s))
        if deferrals:
            await asyncio.gather(*deferrals)
        if moves:
            await self._move(queue, moves)
        return admitted

    async def _move(self, queue: str, moves: list[Move]) -> None:
        """Move events into their shard queues; one not moved (store down) comes back
        here after its visibility timeout."""
        assert self._deps.shards is not None
        try:
            done = await self._deps.shards.move(self._deps.queues, queue, moves)
        finally:
            for move in moves:
                self._visibility.release(move.message)
        if self._deps.tenants is not None:
            for move in done:
                self._deps.tenants.ledger.settled(move.message.message_id)

    async def _tenant_delay(self, event: AsyncEvent) -> float:
        """0 to start the event now, else how long to put it back for."""
        tenants = self._deps.tenants
        if tenants is None:
            return 0.0
        try:
            return await tenants.admit(event.account_id, event.function_name)
        except Exception:
            # Settings unreadable (the store is down and the cache cold): run it,
            # and let the invoke path's counting decide.
            log.warning("poller %s: tenant bucket unavailable", self.poller_id, exc_info=True)
            return 0.0

    async def _defer(self, queue: str, message: ReceivedMessage, delay_s: float) -> None:
        """Put a message back for ``delay_s``: not an attempt, so neither a retry nor
        a throttle is counted for it (the ledger takes its receive out again)."""
        self._visibility.release(message)
        if self._deps.tenants is not None:
            self._deps.tenants.ledger.deferred(message.message_id)
        # Store down: back after its visibility timeout instead, later but never lost.
        with contextlib.suppress(StoreUnavailable):
            await self._deps.queues.change_visibility(queue, message.receipt, delay_s)

    async def _turn(self, runs: bool) -> None:
        """Wait for the drain's token (an event that ``runs``: the drain paces invokes),
        then for a slot."""
        if runs and self._deps.drain is not None:
            await self._deps.drain.take()
        await self._slot_for()

    async def _slot_for(self) -> None:
        """Wait for a free slot: the poller's, then the node's (the messages waiting
        are held by the visibility keeper meanwhile)."""
        await self._slots.acquire()
        if self._deps.gate is None:
            return
        try:
            await self._deps.gate.acquire()
        except BaseException:
            self._slots.release()
            raise

    async def _receive_planned(self, queue: str, count: int) -> list[ReceivedMessage]:
        """Receive as the backlog plan says: in backlog, its parts at once from both
        ends (the queue is deep: no wait), and a long poll only if both were empty."""
        backlog = self._deps.backlog
        if backlog is None:
            return await self._receive(queue, count, self._settings.wait_s)
        messages: list[ReceivedMessage] = []
        parts = backlog.plan(queue, count)
        if len(parts) > 1 or parts[0].order is not ReceiveOrder.OLDEST_FIRST:
            for part in parts:
                messages += await self._receive(queue, part.count, 0.0, part.order)
        if not messages:
            messages = await self._receive(queue, count, self._settings.wait_s)
        backlog.received(queue, len(messages))
        return messages

    async def _receive(
        self,
        queue: str,
        count: int,
        wait_s: float,
        order: ReceiveOrder = ReceiveOrder.OLDEST_FIRST,
    ) -> list[ReceivedMessage]:
        return await self._deps.queues.receive(
            queue,
            max_messages=count,
            visibility_timeout_s=self._settings.visibility_timeout_s,
            wait_s=wait_s,
            order=order,
        )

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()
        if self._deps.gate is not None:
            self._deps.gate.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("poller %s: event handling failed", self.poller_id, exc_info=task.exception())
