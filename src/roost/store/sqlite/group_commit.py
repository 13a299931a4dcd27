"""Group commit: many writers, one transaction and one fsync.

With ``synchronous=FULL`` every SQLite commit waits for an fsync, which caps a
transaction-per-write store at a few thousand writes per second. The
``GroupCommitter`` queues operations from the event loop; while one transaction
runs on the database thread, whatever arrives waits and then goes into the next
transaction together. There is no linger: an operation arriving on an idle
committer starts a transaction at once, so batching costs nothing at low load
and grows with load by itself.

The database thread takes the next batch itself as soon as a commit ends,
rather than handing results back and waiting for the loop to send more: each
trip between the loop and a thread costs a wake-up (0.1-0.3 ms on a busy VM),
and a write that arrived during a commit would otherwise pay two of them
before its own transaction starts.

Not every write needs its own fsync. An operation submitted with
``durable=False`` (a receive, a delete: undoing one only brings a message back)
commits with ``synchronous=NORMAL`` when its whole transaction is like it: the
WAL is written but not fsynced, so it survives a process crash at once and a
power loss from the next durable commit's fsync on, which flushes the log up to
it. A transaction holding any durable operation commits with ``FULL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from roost.store.errors import StoreUnavailable
from roost.store.queue_support import to_ms
from roost.store.sqlite.database import SqliteDatabase, rollback

T = TypeVar("T")

# An operation: a function of the connection and the transaction's clock
# reading (Unix ms), run inside the shared transaction on the database thread.
Operation = Callable[[sqlite3.Connection, int], T]

# Bounds one transaction, so a deep backlog of writers commits in slices and
# the first of them is not held back by the last.
DEFAULT_MAX_BATCH_OPS = 2048
# Transactions one turn on the database thread may commit before other work
# queued for that thread (reads) gets its turn.
BATCHES_PER_TURN = 8


@dataclass
class _Pending:
    operation: Operation[Any]
    future: asyncio.Future[Any]
    after_commit: Callable[[Any], None] | None
    durable: bool


@dataclass
class CommitStats:
    """What the committer did so far: transactions committed and operations in them."""

    transactions: int = 0
    operations: int = 0
    largest_batch: int = 0
    # Transactions that waited for an fsync (``synchronous=FULL``).
    synced: int = 0


class GroupCommitter:
    """Runs operations in shared ``BEGIN IMMEDIATE`` transactions on ``database``'s thread.

    ``submit`` resolves only after the transaction holding its operation has
    committed. If any operation raises, or the commit fails, the transaction is
    rolled back and every operation in it fails with ``StoreUnavailable``
    (nothing of it was applied, so nothing acknowledged is lost). Operations of
    one transaction run in submission order and see each other's effects.
    ``max_batch_ops=1`` turns batching off (one transaction per operation).
    Used from one event loop.
    """

    def __init__(
        self,
        database: SqliteDatabase,
        clock: Callable[[], float],
        *,
        max_batch_ops: int = DEFAULT_MAX_BATCH_OPS,
    ) -> None:
        if max_batch_ops < 1:
            raise ValueError(f"max_batch_ops must be >= 1, not {max_batch_ops}")
        self._database = database
        self._clock = clock
        self._max_batch_ops = max_batch_ops
        # Shared with the database thread, under the lock: operations waiting
        # for a transaction, and whether a turn of the thread is taking them.
        self._lock = threading.Lock()
        self._pending: deque[_Pending] = deque()
        self._draining = False
        self._drained: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # The timer that commits lingering operations nobody else carried.
        self._lingering: asyncio.TimerHandle | None = None
        self._closed = False
        # The connection's synchronous setting, as the database thread last set
        # it (None: not set by this committer yet).
        self._synchronous: str | None = None
        self.stats = CommitStats()

    async def submit(
        self,
        operation: Operation[T],
        *,
        after_commit: Callable[[T], None] | None = None,
        durable: bool = True,
        linger_s: float = 0.0,
    ) -> T:
        """Run ``operation`` in the next transaction; its result once committed.

        ``after_commit(result)`` runs on the loop right after the commit, even
        if the caller was cancelled meanwhile (the operation is not undone).
        ``durable=False``: the commit need not be fsynced (see the module).
        ``linger_s`` > 0: the operation does not start a transaction itself but
        rides in the next one another operation starts, or in one of its own
        after ``linger_s`` (for writes nobody waits on, such as a delete after
        an event ran: at low load they then never hold up the next send).
        """
        if self._closed:
            raise StoreUnavailable(f"sqlite database {self._database.path} is closed")
        loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        pending = _Pending(operation, future, cast(Any, after_commit), durable)
        with self._lock:
            self._pending.append(pending)
            start = not self._draining and linger_s <= 0
            self._draining = self._draining or start
        if start:
            self._begin_draining()
        elif linger_s > 0 and self._lingering is None:
            self._lingering = loop.call_later(linger_s, self._linger_over)
        return await future

    def _begin_draining(self) -> None:
        assert self._loop is not None
        self._drained = asyncio.Event()
        # At the end of this turn of the loop, so that the writes arriving
        # together (the requests one poll of the sockets brought) share a commit.
        self._loop.call_soon(self._start_turn)

    def _linger_over(self) -> None:
        self._lingering = None
        with self._lock:
            start = bool(self._pending) and not self._draining
            self._draining = self._draining or start
        if start:
            self._begin_draining()

    async def close(self) -> None:
        """Refuse new operations and wait until the ones accepted are committed or failed."""
        self._closed = True
        if self._lingering is not None:
            self._lingering.cancel()
            self._linger_over()
        with self._lock:
            draining = self._draining
        if draining and self._drained is not None:
            await self._drained.wait()

    def _start_turn(self) -> None:
        try:
            turn = self._database.call_soon(self._turn)
        except StoreUnavailable as exc:
            # The database is closed: nothing queued can commit any more.
            self._deliver_failure(self._take_all(), exc)
            return
        turn.add_done_callback(self._turn_ended)

    # Runs on the database thread.
    def _turn_ended(self, turn: Future[None]) -> None:
        error = turn.exception()
        if error is not None:
            # The connection could not be opened: fail what waits, not hang it.
            self._post(lambda: self._deliver_failure(self._take_all(), error))

    # Runs on the database thread.
    def _turn(self, connection: sqlite3.Connection) -> None:
        """Commit batches until none is waiting (or this turn has had its share)."""
        for _ in range(BATCHES_PER_TURN):
            with self._lock:
                if not self._pending:
                    self._draining = False
                    self._post(self._finish_draining)
                    return
                count = min(self._max_batch_ops, len(self._pending))
                batch = [self._pending.popleft() for _ in range(count)]
            synchronous = "FULL" if any(pending.durable for pending in batch) else "NORMAL"
            try:
                results = self._transaction(connection, batch, synchronous)
            except Exception as exc:
                self._post(self._deliver_failure, batch, exc)
            else:
                self._post(self._deliver, batch, results, synchronous)
        # Others' work on this thread first; then the next turn.
        self._post(self._start_turn)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        # A closed loop raises RuntimeError: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    def _take_all(self) -> list[_Pending]:
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
            self._draining = False
        self._finish_draining()
        return batch

    def _finish_draining(self) -> None:
        with self._lock:
            draining = self._draining
        if not draining and self._drained is not None:
            self._drained.set()

    def _deliver(self, batch: list[_Pending], results: list[Any], synchronous: str) -> None:
        self.stats.transactions += 1
        self.stats.synced += synchronous == "FULL"
        self.stats.operations += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)
        # After the results: a waiter resumes only on a later turn of the loop,
        # so it still sees every callback's effect (wake-ups) when it does.
        for pending, result in zip(batch, results, strict=True):
            if pending.after_commit is not None:
                pending.after_commit(result)

    def _deliver_failure(self, batch: list[_Pending], cause: BaseException) -> None:
        _fail(batch, cause)

    # Runs on the database thread.
    def _transaction(
        self, connection: sqlite3.Connection, batch: list[_Pending], synchronous: str
    ) -> list[Any]:
        if synchronous != self._synchronous:
            # Outside a transaction: the setting applies to the next commit.
            connection.execute(f"PRAGMA synchronous={synchronous}")
            self._synchronous = synchronous
        now_ms = to_ms(self._clock())
        connection.execute("BEGIN IMMEDIATE")
        try:
            results = [pending.operation(connection, now_ms) for pending in batch]
            connection.execute("COMMIT")
        except BaseException:
            rollback(connection)
            raise
        return results


def _fail(batch: list[_Pending], cause: BaseException) -> None:
    for pending in batch:
        if pending.future.done():
            continue
        # One error per waiter: a shared instance would pile up every
        # waiter's traceback on it.
        error = StoreUnavailable(f"transaction failed, nothing of it applied: {cause!r}")
        error.__cause__ = cause
        pending.future.set_exception(error)
