"""``EventSourceMappingStore`` on SQLite, in its own file of the data directory.

One row per mapping with the columns the API filters on (account, function,
source) beside the JSON document. A unique index enforces "one mapping per
source and function" inside the same transaction as the write, so two creates
racing (threads or processes) cannot both succeed. Mappings get their own file,
``mappings.db``, so their schema evolves independently of the config store and
the pollers' frequent state writes never queue behind control-plane commits.
"""

from __future__ import annotations

import json
import sqlite3
import uuid as uuid_module
from pathlib import Path

from roost.store.errors import ConditionFailed, DuplicateMapping
from roost.store.ports import MappingRecord
from roost.store.sqlite.database import SqliteDatabase, rollback

MAPPING_DATABASE_NAME = "mappings.db"

# Schema history; entry i upgrades PRAGMA user_version i to i + 1. Append only.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE event_source_mappings (
        uuid         TEXT PRIMARY KEY NOT NULL,
        account_id   TEXT NOT NULL,
        function_arn TEXT NOT NULL,
        source_key   TEXT NOT NULL,
        document     TEXT NOT NULL,
        revision     TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE UNIQUE INDEX event_source_mappings_by_source
        ON event_source_mappings (account_id, function_arn, source_key)
    """,
)

_COLUMNS = "uuid, account_id, function_arn, source_key, document, revision"


class SqliteMappingStore:
    """Mappings in one SQLite table, every statement on the store's own thread.

    Open with ``await SqliteMappingStore.open(path)``; ``close()`` releases the
    connection and later calls raise ``StoreUnavailable``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SqliteDatabase(path, MIGRATIONS)

    @classmethod
    async def open(cls, path: Path) -> SqliteMappingStore:
        """Open (creating if needed) the store at ``path`` and check it is usable."""
        store = cls(path)
        await store._db.verify()
        return store

    async def put(self, record: MappingRecord, *, expected_revision: str | None = None) -> str:
        # Encode on the loop: a document that is not JSON fails before the transaction.
        encoded = json.dumps(dict(record.document))
        return await self._db.run(lambda c: _put(c, record, encoded, expected_revision))

    async def get(self, uuid: str) -> MappingRecord | None:
        return await self._db.run(lambda c: _get(c, uuid))

    async def list(
        self,
        *,
        account_id: str | None = None,
        function_arn: str | None = None,
        source_key: str | None = None,
        start_after: str | None = None,
        limit: int | None = None,
    ) -> list[MappingRecord]:
        filters = {"account_id": account_id, "function_arn": function_arn, "source_key": source_key}
        return await self._db.run(lambda c: _list(c, filters, start_after, limit))

    async def delete(self, uuid: str, *, expected_revision: str | None = None) -> bool:
        return await self._db.run(lambda c: _delete(c, uuid, expected_revision))

    async def close(self) -> None:
        await self._db.close()


# Everything below runs on the database thread.


def _record(row: tuple[str, str, str, str, str, str]) -> MappingRecord:
    uuid, account_id, function_arn, source_key, document, revision = row
    return MappingRecord(uuid, account_id, function_arn, source_key, json.loads(document), revision)


def _get(connection: sqlite3.Connection, uuid: str) -> MappingRecord | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM event_source_mappings WHERE uuid = ?", (uuid,)
    ).fetchone()
    return None if row is None else _record(row)


def _list(
    connection: sqlite3.Connection,
    filters: dict[str, str | None],
    start_after: str | None,
    limit: int | None,
) -> list[MappingRecord]:
    # Column names come from a fixed dict above, never from callers.
    clauses = [f"{column} = ?" for column, value in filters.items() if value is not None]
    params: list[str | int] = [value for value in filters.values() if value is not None]
    if start_after is not None:
        clauses.append("uuid > ?")
        params.append(start_after)
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    params.append(-1 if limit is None else max(limit, 0))  # LIMIT -1: no limit
    sql = f"SELECT {_COLUMNS} FROM event_source_mappings {where}ORDER BY uuid LIMIT ?"
    return [_record(row) for row in connection.execute(sql, params)]


def _revision(connection: sqlite3.Connection, uuid: str) -> str | None:
    row = connection.execute(
        "SELECT revision FROM event_source_mappings WHERE uuid = ?", (uuid,)
    ).fetchone()
    return None if row is None else str(row[0])


def _duplicate_of(connection: sqlite3.Connection, record: MappingRecord) -> str | None:
    row = connection.execute(
        "SELECT uuid FROM event_source_mappings WHERE account_id = ? AND function_arn = ? "
        "AND source_key = ? AND uuid != ?",
        (record.account_id, record.function_arn, record.source_key, record.uuid),
    ).fetchone()
    return None if row is None else str(row[0])


def _put(
    connection: sqlite3.Connection,
    record: MappingRecord,
    encoded: str,
    expected_revision: str | None,
) -> str:
    revision = uuid_module.uuid4().hex
    # IMMEDIATE takes the write lock first: the checks and the write see one state.
    connection.execute("BEGIN IMMEDIATE")
    try:
        current = _revision(connection, record.uuid)
        if (expected_revision is None and current is not None) or (
            expected_revision is not None and current != expected_revision
        ):
            raise ConditionFailed(record.uuid)
        existing = _duplicate_of(connection, record)
        if existing is not None:
            raise DuplicateMapping(record.uuid, existing)
        connection.execute(
            f"INSERT INTO event_source_mappings ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (uuid) DO UPDATE SET account_id = excluded.account_id, "
            "function_arn = excluded.function_arn, source_key = excluded.source_key, "
            "document = excluded.document, revision = excluded.revision",
            (
                record.uuid,
                record.account_id,
                record.function_arn,
                record.source_key,
                encoded,
                revision,
            ),
        )
        connection.execute("COMMIT")
    except BaseException:
        rollback(connection)
        raise
    return revision


def _delete(connection: sqlite3.Connection, uuid: str, expected_revision: str | None) -> bool:
    connection.execute("BEGIN IMMEDIATE")
    try:
        current = _revision(connection, uuid)
        if expected_revision is not None and current != expected_revision:
            raise ConditionFailed(uuid)
        connection.execute("DELETE FROM event_source_mappings WHERE uuid = ?", (uuid,))
        connection.execute("COMMIT")
    except BaseException:
        rollback(connection)
        raise
    return current is not None
