"""``ConfigStore`` on SQLite: the embedded default, one file in the data directory.

One table holds every document as JSON text with its revision. A batch is one
``BEGIN IMMEDIATE`` transaction: conditions are read and writes applied under the
write lock, so no other writer (thread or process) can slip in between, and with
WAL plus ``synchronous=FULL`` the commit is on disk before ``commit`` returns.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import assert_never

from roost.store.errors import ConditionFailed
from roost.store.ports import CommitResult, Delete, DeletePrefix, Item, Put, Write
from roost.store.sqlite.database import SqliteDatabase, rollback

# Schema history; entry i upgrades PRAGMA user_version i to i + 1. Append only.
MIGRATIONS: tuple[str, ...] = (
    # WITHOUT ROWID: the text key is the clustered index, so prefix range scans
    # read rows in key order straight from the b-tree.
    """
    CREATE TABLE config_items (
        key      TEXT PRIMARY KEY NOT NULL,
        value    TEXT NOT NULL,
        revision TEXT NOT NULL
    ) WITHOUT ROWID
    """,
)


class SqliteConfigStore:
    """Documents in one SQLite table, all statements on the store's own thread.

    Open with ``store = await SqliteConfigStore.open(path)``, which creates the
    file and schema if needed (idempotently) and fails early if the file is
    unusable. The bare constructor does no I/O: the file is then opened by the
    first call. ``await store.close()`` releases the connection; later calls raise
    ``StoreUnavailable``.

    Conditions in a batch are evaluated against the state before the batch, then
    the writes are applied in order (the same semantics as every adapter).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SqliteDatabase(path, MIGRATIONS)

    @classmethod
    async def open(cls, path: Path) -> SqliteConfigStore:
        """Open (creating if needed) the store at ``path`` and check it is usable."""
        store = cls(path)
        try:
            await store._db.run(_noop)
        except BaseException:
            await store.close()
            raise
        return store

    async def get(self, key: str) -> Item | None:
        return await self._db.run(lambda connection: _get(connection, key))

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[Item]:
        return await self._db.run(lambda connection: _list(connection, prefix, start_after, limit))

    async def commit(self, writes: Sequence[Write]) -> CommitResult:
        # Encode on the loop before queuing: a document that is not JSON fails
        # here, before any transaction starts.
        batch = [
            (write, json.dumps(dict(write.value)) if isinstance(write, Put) else None)
            for write in writes
        ]
        return await self._db.run(lambda connection: _commit(connection, batch))

    async def close(self) -> None:
        await self._db.close()


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    None when there is none (empty prefix, or only U+10FFFF characters). SQLite
    compares TEXT as UTF-8 bytes, which orders like Python's code points, so
    ``prefix <= key < bound`` selects exactly the keys that start with ``prefix``.
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code <= sys.maxunicode:
            # Surrogates cannot be encoded as UTF-8, hence cannot be in a key.
            if 0xD800 <= code <= 0xDFFF:
                code = 0xE000
            return "".join(chars) + chr(code)
    return None


# Everything below runs on the database thread.


def _noop(connection: sqlite3.Connection) -> None:
    return None


def _item(row: tuple[str, str, str]) -> Item:
    key, value, revision = row
    return Item(key, json.loads(value), revision)


def _get(connection: sqlite3.Connection, key: str) -> Item | None:
    row = connection.execute(
        "SELECT key, value, revision FROM config_items WHERE key = ?", (key,)
    ).fetchone()
    return None if row is None else _item(row)


def _list(
    connection: sqlite3.Connection, prefix: str, start_after: str | None, limit: int | None
) -> list[Item]:
    clauses = ["key >= ?"]
    params: list[str | int] = [prefix]
    upper = prefix_upper_bound(prefix)
    if upper is not None:
        clauses.append("key < ?")
        params.append(upper)
    if start_after is not None:
        clauses.append("key > ?")
        params.append(start_after)
    # LIMIT -1 is SQLite for "no limit".
    params.append(-1 if limit is None else max(limit, 0))
    sql = (
        "SELECT key, value, revision FROM config_items WHERE "
        + " AND ".join(clauses)
        + " ORDER BY key LIMIT ?"
    )
    return [_item(row) for row in connection.execute(sql, params)]


def _revision(connection: sqlite3.Connection, key: str) -> str | None:
    row = connection.execute("SELECT revision FROM config_items WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _check(connection: sqlite3.Connection, write: Write) -> None:
    if isinstance(write, Put):
        current = _revision(connection, write.key)
        if write.if_absent and current is not None:
            raise ConditionFailed(write.key)
        if write.if_revision is not None and current != write.if_revision:
            raise ConditionFailed(write.key)
    elif isinstance(write, Delete) and (write.must_exist or write.if_revision is not None):
        current = _revision(connection, write.key)
        if current is None or (write.if_revision is not None and current != write.if_revision):
            raise ConditionFailed(write.key)


def _apply(
    connection: sqlite3.Connection, write: Write, encoded: str | None, revisions: dict[str, str]
) -> None:
    if isinstance(write, Put):
        revision = uuid.uuid4().hex
        connection.execute(
            "INSERT INTO config_items (key, value, revision) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, revision = excluded.revision",
            (write.key, encoded, revision),
        )
        revisions[write.key] = revision
    elif isinstance(write, Delete):
        connection.execute("DELETE FROM config_items WHERE key = ?", (write.key,))
    elif isinstance(write, DeletePrefix):
        upper = prefix_upper_bound(write.prefix)
        if upper is None:
            connection.execute("DELETE FROM config_items WHERE key >= ?", (write.prefix,))
        else:
            connection.execute(
                "DELETE FROM config_items WHERE key >= ? AND key < ?", (write.prefix, upper)
            )
    else:
        assert_never(write)


def _commit(
    connection: sqlite3.Connection, batch: Sequence[tuple[Write, str | None]]
) -> CommitResult:
    revisions: dict[str, str] = {}
    if not batch:
        return CommitResult(revisions)
    # IMMEDIATE takes the write lock now, so the revisions read by the checks
    # cannot change before the writes land.
    connection.execute("BEGIN IMMEDIATE")
    try:
        for write, _ in batch:
            _check(connection, write)
        for write, encoded in batch:
            _apply(connection, write, encoded, revisions)
        connection.execute("COMMIT")
    except BaseException:
        rollback(connection)
        raise
    return CommitResult(revisions)
