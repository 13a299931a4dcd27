"""Group commit: many writers, one transaction and one fsync.

With ``synchronous=FULL`` every SQLite commit waits for an fsync, which caps a
transaction-per-write store at a few thousand writes per second. The
``GroupCommitter`` queues operations on the event loop; while one transaction
runs on the database thread, whatever arrives waits and then goes into the next
transaction together. There is no linger: an operation arriving on an idle
committer starts a transaction at once, so batching costs nothing at low load
and grows with load by itself.

Not every write needs its own fsync. An operation submitted with
``durable=False`` (a receive, a delete: undoing one only brings a message back)
commits with ``synchronous=NORMAL`` when its whole transaction is like it: the
WAL is written but not fsynced, so it survives a process crash at once and a
power loss from the next durable commit's fsync on, which flushes the log up to
it. A transaction holding any durable operation commits with ``FULL``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
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
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
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
    ) -> T:
        """Run ``operation`` in the next transaction; its result once committed.

        ``after_commit(result)`` runs on the loop right after the commit, even
        if the caller was cancelled meanwhile (the operation is not undone).
        ``durable=False``: the commit need not be fsynced (see the module).
        """
        if self._closed:
            raise StoreUnavailable(f"sqlite database {self._database.path} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Pending(operation, future, cast(Any, after_commit), durable))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await future

    async def close(self) -> None:
        """Refuse new operations and wait until the ones accepted are committed or failed."""
        self._closed = True
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch_ops]
                del self._pending[: self._max_batch_ops]
                await self._commit(batch)
        except BaseException as exc:
            # Cancelled (the loop is shutting down): whoever still waits learns
            # the outcome is unknown rather than hanging.
            _fail([*self._pending], exc)
            self._pending.clear()
            raise
        finally:
            self._flusher = None

    async def _commit(self, batch: list[_Pending]) -> None:
        operations = [pending.operation for pending in batch]
        synchronous = "FULL" if any(pending.durable for pending in batch) else "NORMAL"
        try:
            results = await self._database.run(
                lambda connection: self._transaction(connection, operations, synchronous)
            )
        except asyncio.CancelledError as exc:
            _fail(batch, exc)
            raise
        except Exception as exc:
            _fail(batch, exc)
            return
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

    # Runs on the database thread.
    def _transaction(
        self, connection: sqlite3.Connection, operations: list[Operation[Any]], synchronous: str
    ) -> list[Any]:
        if synchronous != self._synchronous:
            # Outside a transaction: the setting applies to the next commit.
            connection.execute(f"PRAGMA synchronous={synchronous}")
            self._synchronous = synchronous
        now_ms = to_ms(self._clock())
        connection.execute("BEGIN IMMEDIATE")
        try:
            results = [operation(connection, now_ms) for operation in operations]
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
