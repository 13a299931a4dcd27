"""One SQLite connection, driven from one dedicated thread.

``sqlite3`` calls block (and ``synchronous=FULL`` makes every commit wait for an
fsync), so an adapter never runs them on the event loop. A ``SqliteDatabase``
owns a single-worker ``ThreadPoolExecutor``: the connection is created, used and
closed on that thread only, which also serialises every statement without a lock.
Adapters hand it plain functions of the connection through ``run``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from roost.store.errors import StoreError, StoreUnavailable

T = TypeVar("T")

# How long a statement waits for another process (a second `roost` on the same
# data directory) holding the write lock before failing with "database is locked".
BUSY_TIMEOUT_MS = 5_000


class SqliteDatabase:
    """A WAL-mode SQLite file with ``synchronous=FULL`` behind one worker thread.

    ``migrations`` are the schema: statement ``i`` moves the file from
    ``PRAGMA user_version`` ``i`` to ``i + 1``. They run once, on the first
    connection, inside one transaction, so opening is idempotent and a half
    applied migration is never left behind.

    The constructor does no I/O; the file is opened by the first ``run`` (call
    ``await db.run(lambda conn: None)`` to surface errors early). After ``close``
    every ``run`` raises ``StoreUnavailable``.
    """

    def __init__(self, path: Path, migrations: Sequence[str]) -> None:
        self.path = path
        self._migrations = tuple(migrations)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roost-sqlite")
        self._connection: sqlite3.Connection | None = None
        self._closed = False

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` on the database thread and return its result.

        Cancelling the caller abandons the wait only: work that already started
        runs to completion (a commit is never cut in half by a cancellation).
        """
        if self._closed:
            raise StoreUnavailable(f"sqlite database {self.path} is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, work)
        except RuntimeError as exc:
            # submit() after shutdown: close() won a race with this call.
            if self._closed:
                raise StoreUnavailable(f"sqlite database {self.path} is closed") from exc
            raise

    async def verify(self) -> None:
        """Open the connection now (running the migrations), so a bad path or a
        newer schema fails at start-up rather than at the first request; closes
        the database if it cannot be opened."""
        try:
            await self.run(lambda connection: None)
        except BaseException:
            await self.close()
            raise

    def call_soon(self, work: Callable[[sqlite3.Connection], None]) -> Future[None]:
        """Queue ``work(connection)`` on the database thread without waiting for it.

        The returned future fails with ``StoreUnavailable`` if the connection
        could not be opened (errors inside ``work`` are its own to handle).
        """
        if self._closed:
            raise StoreUnavailable(f"sqlite database {self.path} is closed")
        try:
            return self._executor.submit(self._call, work)
        except RuntimeError as exc:
            raise StoreUnavailable(f"sqlite database {self.path} is closed") from exc

    async def close(self) -> None:
        """Close the connection after the work already queued; idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        # The close job queues behind any in-flight work, so callers that got in
        # before close() still finish; afterwards the thread is idle and joining
        # it is immediate.
        await loop.run_in_executor(self._executor, self._disconnect)
        self._executor.shutdown(wait=True)

    # Everything below runs on the database thread.

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            if self._connection is None:
                self._connection = self._connect()
            return work(self._connection)
        except sqlite3.OperationalError as exc:
            # Locked, disk full, I/O error: the store is unusable for now, and
            # callers see the same error type as with any other adapter.
            raise StoreUnavailable(f"sqlite database {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions, adapters issue
        # BEGIN IMMEDIATE / COMMIT themselves so a batch is exactly one transaction.
        connection = sqlite3.connect(
            self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"sqlite database {self.path}: cannot enable WAL ({mode})")
            # FULL in WAL mode fsyncs the log on every commit: an acknowledged
            # write survives power loss, not only a process crash.
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._migrate(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        target = len(self._migrations)
        # IMMEDIATE takes the write lock before reading the version, so two
        # processes opening a fresh file do not both run the same migration.
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
            if version > target:
                raise StoreError(
                    f"sqlite database {self.path} has schema version {version}, "
                    f"newer than this Roost understands ({target})"
                )
            for statement in self._migrations[version:]:
                connection.execute(statement)
            if version != target:
                # PRAGMA does not take parameters; target is an int we computed.
                connection.execute(f"PRAGMA user_version={target}")
            connection.execute("COMMIT")
        except BaseException:
            rollback(connection)
            raise

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def rollback(connection: sqlite3.Connection) -> None:
    """Roll back the open transaction, if a failed statement left one open."""
    # A failed COMMIT may or may not have ended the transaction; ROLLBACK
    # without one raises and would hide the original error.
    if connection.in_transaction:
        connection.execute("ROLLBACK")
