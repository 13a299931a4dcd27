"""``CheckpointStore`` on SQLite, in its own file of the data directory.

One row per (mapping, shard). Positions are ``TEXT`` columns: Kinesis and
DynamoDB sequence numbers are decimal strings of up to 128 digits (moto's are
short) and Kafka offsets arrive as text too, so nothing is ever converted or
compared; the poller knows the order from the stream. Checkpoints get their own
file, ``checkpoints.db``: a stream poller advances one per batch and shard, and
those fsyncs must not queue behind control-plane or mapping writes.

Every write is one ``BEGIN IMMEDIATE`` transaction on the WAL file with
``synchronous=FULL`` (``SqliteDatabase``), so an acknowledged checkpoint
survives a crash of the process and a power loss.
"""

from __future__ import annotations

import sqlite3
import uuid as uuid_module
from pathlib import Path

from roost.store.errors import ConditionFailed
from roost.store.ports import ShardCheckpoint, checkpoint_key
from roost.store.sqlite.database import SqliteDatabase, rollback

CHECKPOINT_DATABASE_NAME = "checkpoints.db"

# Schema history; entry i upgrades PRAGMA user_version i to i + 1. Append only.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE shard_checkpoints (
        mapping_uuid TEXT NOT NULL,
        shard_id     TEXT NOT NULL,
        position     TEXT,
        closed       INTEGER NOT NULL DEFAULT 0,
        owner        TEXT,
        revision     TEXT NOT NULL,
        PRIMARY KEY (mapping_uuid, shard_id)
    ) WITHOUT ROWID
    """,
)

_COLUMNS = "mapping_uuid, shard_id, position, closed, owner, revision"

Row = tuple[str, str, str | None, int, str | None, str]


class SqliteCheckpointStore:
    """Checkpoints in one SQLite table, every statement on the store's own thread.

    Open with ``await SqliteCheckpointStore.open(path)``; ``close()`` releases the
    connection and later calls raise ``StoreUnavailable``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SqliteDatabase(path, MIGRATIONS)

    @classmethod
    async def open(cls, path: Path) -> SqliteCheckpointStore:
        """Open (creating if needed) the store at ``path`` and check it is usable."""
        store = cls(path)
        await store._db.verify()
        return store

    async def get(self, mapping_uuid: str, shard_id: str) -> ShardCheckpoint | None:
        return await self._db.run(lambda c: _get(c, mapping_uuid, shard_id))

    async def list(self, mapping_uuid: str) -> list[ShardCheckpoint]:
        return await self._db.run(lambda c: _list(c, mapping_uuid))

    async def claim(self, mapping_uuid: str, shard_id: str, owner: str) -> ShardCheckpoint:
        return await self._db.run(lambda c: _claim(c, mapping_uuid, shard_id, owner))

    async def advance(
        self, mapping_uuid: str, shard_id: str, position: str, *, expected_revision: str
    ) -> str:
        # Bound as a str parameter, the position is stored as TEXT exactly as given.
        return await self._db.run(
            lambda c: _update(c, _ADVANCE, str(position), mapping_uuid, shard_id, expected_revision)
        )

    async def mark_closed(self, mapping_uuid: str, shard_id: str, *, expected_revision: str) -> str:
        return await self._db.run(
            lambda c: _update(c, _CLOSE, None, mapping_uuid, shard_id, expected_revision)
        )

    async def delete_mapping(self, mapping_uuid: str) -> int:
        return await self._db.run(lambda c: _delete_mapping(c, mapping_uuid))

    async def close(self) -> None:
        await self._db.close()


# Everything below runs on the database thread.


def _checkpoint(row: Row) -> ShardCheckpoint:
    mapping_uuid, shard_id, position, closed, owner, revision = row
    return ShardCheckpoint(mapping_uuid, shard_id, position, bool(closed), owner, revision)


def _get(
    connection: sqlite3.Connection, mapping_uuid: str, shard_id: str
) -> ShardCheckpoint | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM shard_checkpoints WHERE mapping_uuid = ? AND shard_id = ?",
        (mapping_uuid, shard_id),
    ).fetchone()
    return None if row is None else _checkpoint(row)


def _list(connection: sqlite3.Connection, mapping_uuid: str) -> list[ShardCheckpoint]:
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM shard_checkpoints WHERE mapping_uuid = ? ORDER BY shard_id",
        (mapping_uuid,),
    )
    return [_checkpoint(row) for row in rows]


def _claim(
    connection: sqlite3.Connection, mapping_uuid: str, shard_id: str, owner: str
) -> ShardCheckpoint:
    revision = uuid_module.uuid4().hex
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(
            "INSERT INTO shard_checkpoints (mapping_uuid, shard_id, owner, revision) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (mapping_uuid, shard_id) "
            "DO UPDATE SET owner = excluded.owner, revision = excluded.revision",
            (mapping_uuid, shard_id, owner, revision),
        )
        claimed = _get(connection, mapping_uuid, shard_id)
        connection.execute("COMMIT")
    except BaseException:
        rollback(connection)
        raise
    assert claimed is not None  # written in this transaction
    return claimed


# Both take (value, new revision, mapping, shard, expected revision). A closed
# shard's position never moves again; closing again at its revision is harmless.
_ADVANCE = (
    "UPDATE shard_checkpoints SET position = ?, revision = ? "
    "WHERE mapping_uuid = ? AND shard_id = ? AND revision = ? AND closed = 0"
)
_CLOSE = (
    "UPDATE shard_checkpoints SET closed = 1, position = coalesce(?, position), revision = ? "
    "WHERE mapping_uuid = ? AND shard_id = ? AND revision = ?"
)


def _update(
    connection: sqlite3.Connection,
    statement: str,
    value: str | None,
    mapping_uuid: str,
    shard_id: str,
    expected_revision: str,
) -> str:
    revision = uuid_module.uuid4().hex
    connection.execute("BEGIN IMMEDIATE")
    try:
        params = (value, revision, mapping_uuid, shard_id, expected_revision)
        if connection.execute(statement, params).rowcount != 1:
            raise ConditionFailed(checkpoint_key(mapping_uuid, shard_id))
        connection.execute("COMMIT")
    except BaseException:
        rollback(connection)
        raise
    return revision


def _delete_mapping(connection: sqlite3.Connection, mapping_uuid: str) -> int:
    connection.execute("BEGIN IMMEDIATE")
    try:
        removed = connection.execute(
            "DELETE FROM shard_checkpoints WHERE mapping_uuid = ?", (mapping_uuid,)
        ).rowcount
        connection.execute("COMMIT")
    except BaseException:
        rollback(connection)
        raise
    return int(removed)
