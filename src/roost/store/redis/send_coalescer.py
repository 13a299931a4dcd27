"""Coalesced sends: whatever arrives while one send script runs shares the next.

A send costs redis-py a round trip and some Python per call, and, with
``appendfsync always``, Redis an fsync per event-loop turn that wrote. The
``SendCoalescer`` queues sends; while one script call is on its way, the sends
that arrive wait and then go to Redis together in one call (one round trip,
one fsync). A send on an idle coalescer goes at the end of the current turn
of the event loop, so batching costs a lone sender nothing and grows with load
by itself, as SQLite's group commit does.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from roost.store.errors import StoreUnavailable

# Bounds one call's messages, so a deep backlog of senders goes in slices and
# the first of them is not held back by the last (a larger batch goes whole).
DEFAULT_MAX_BATCH_MESSAGES = 1024


@dataclass
class PendingSend:
    """One ``send_batch`` waiting for its script call: its rows are (message id, body)."""

    queue: str
    rows: list[tuple[str, bytes]]
    delay_ms: int
    future: asyncio.Future[None] = field(repr=False)


@dataclass
class CoalesceStats:
    """Script calls made so far and the sends and messages they carried."""

    calls: int = 0
    sends: int = 0
    messages: int = 0
    largest_call: int = 0


Write = Callable[[list[PendingSend]], Awaitable[None]]


class SendCoalescer:
    """Runs ``write`` on batches of pending sends, one call at a time, in arrival order.

    ``submit`` returns once the call holding its send succeeded; if the call
    fails, every send in it fails with ``StoreUnavailable``. A cancelled
    submitter's send still goes out. Used from one event loop.
    """

    def __init__(self, write: Write, *, max_batch_messages: int = DEFAULT_MAX_BATCH_MESSAGES):
        if max_batch_messages < 1:
            raise ValueError(f"max_batch_messages must be >= 1, not {max_batch_messages}")
        self._write = write
        self._max_batch_messages = max_batch_messages
        self._pending: deque[PendingSend] = deque()
        self._draining: asyncio.Task[None] | None = None
        self.stats = CoalesceStats()

    async def submit(self, queue: str, rows: list[tuple[str, bytes]], delay_ms: int) -> None:
        """Send ``rows`` to ``queue`` in the next script call; returns once Redis has them."""
        loop = asyncio.get_running_loop()
        pending = PendingSend(queue, rows, delay_ms, loop.create_future())
        self._pending.append(pending)
        if self._draining is None:
            # A task starts on the next turn of the loop: the sends arriving in
            # this turn (one poll of the sockets) share its first call.
            self._draining = loop.create_task(self._drain())
        await pending.future

    async def close(self) -> None:
        """Wait until every send accepted so far has been written or has failed."""
        if self._draining is not None:
            await asyncio.shield(self._draining)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._take()
                try:
                    await self._write(batch)
                except BaseException as error:
                    _fail(batch, error)
                    if not isinstance(error, Exception):
                        # Cancelled (the loop is going away): nobody writes the rest.
                        _fail(list(self._pending), error)
                        self._pending.clear()
                        raise
                else:
                    self._count(batch)
                    for pending in batch:
                        if not pending.future.done():
                            pending.future.set_result(None)
        finally:
            self._draining = None

    def _take(self) -> list[PendingSend]:
        batch = [self._pending.popleft()]
        messages = len(batch[0].rows)
        while self._pending and messages + len(self._pending[0].rows) <= self._max_batch_messages:
            pending = self._pending.popleft()
            messages += len(pending.rows)
            batch.append(pending)
        return batch

    def _count(self, batch: list[PendingSend]) -> None:
        self.stats.calls += 1
        self.stats.sends += len(batch)
        self.stats.messages += sum(len(pending.rows) for pending in batch)
        self.stats.largest_call = max(self.stats.largest_call, len(batch))


def _fail(batch: list[PendingSend], cause: BaseException) -> None:
    for pending in batch:
        if pending.future.done():
            continue
        # One error per waiter: a shared instance would collect every traceback.
        error = StoreUnavailable(f"send failed, it may or may not be stored: {cause}")
        error.__cause__ = cause
        pending.future.set_exception(error)
