"""``SqliteCheckpointStore`` beyond the contract: its file, persistence, SIGKILL durability."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import defaultdict
from pathlib import Path

from roost.store.sqlite import SqliteCheckpointStore
from roost.store.sqlite.checkpoints import MIGRATIONS
from tests.fixtures.crash import acknowledged_before_sigkill
from tests.fixtures.stores import assert_wal_full_sync_and_versioned

M = "mapping-1"


def test_checkpoints_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "data" / "checkpoints.db"

    async def main() -> None:
        store = await SqliteCheckpointStore.open(path)
        claimed = await store.claim(M, "parent", "poller-a")
        advanced = await store.advance(M, "parent", "0042", expected_revision=claimed.revision)
        await store.mark_closed(M, "parent", expected_revision=advanced)
        child = await store.claim(M, "child", "poller-a")
        child_revision = await store.advance(M, "child", "7", expected_revision=child.revision)
        await store.close()

        reopened = await SqliteCheckpointStore.open(path)
        try:
            resumed, parent = await reopened.list(M)  # in shard id order
            assert (parent.shard_id, parent.position, parent.closed) == ("parent", "0042", True)
            assert (resumed.position, resumed.closed, resumed.owner) == ("7", False, "poller-a")
            # The revision survived too: the owner carries on without a new claim.
            await reopened.advance(M, "child", "8", expected_revision=child_revision)
        finally:
            await reopened.close()

    asyncio.run(main())


def test_the_file_is_wal_with_full_sync_and_a_schema_version(tmp_path: Path) -> None:
    assert_wal_full_sync_and_versioned(
        tmp_path / "checkpoints.db", SqliteCheckpointStore.open, len(MIGRATIONS)
    )


def test_positions_are_stored_as_text(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"

    async def main() -> None:
        store = await SqliteCheckpointStore.open(path)
        try:
            claimed = await store.claim(M, "s", "p")
            await store.advance(M, "s", "0010", expected_revision=claimed.revision)
        finally:
            await store.close()

    asyncio.run(main())
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute(
            "SELECT typeof(position), position FROM shard_checkpoints"
        ).fetchone() == (
            "text",
            "0010",
        )


# Durability: every checkpoint acknowledged before a SIGKILL is there afterwards.

_SQLITE_ADVANCER = """
import asyncio, sys
from pathlib import Path
from roost.store.sqlite import SqliteCheckpointStore


async def main() -> None:
    store = await SqliteCheckpointStore.open(Path(sys.argv[1]))

    async def owner(shard: str) -> None:
        revision = (await store.claim("mapping-1", shard, "poller")).revision
        for k in range(1, 1_000_000):
            revision = await store.advance("mapping-1", shard, str(k), expected_revision=revision)
            print(shard, k, flush=True)

    await asyncio.gather(*(owner(f"shard-{n}") for n in range(8)))

asyncio.run(main())
"""

ACKS_BEFORE_KILL = 200


def test_acknowledged_checkpoints_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    acknowledged = acknowledged_before_sigkill(
        _SQLITE_ADVANCER, str(path), acks_before_kill=ACKS_BEFORE_KILL
    )
    newest_acknowledged: dict[str, int] = defaultdict(int)
    for line in acknowledged:
        shard, position = line.split()
        newest_acknowledged[shard] = max(newest_acknowledged[shard], int(position))

    async def stored() -> dict[str, int]:
        store = await SqliteCheckpointStore.open(path)
        try:
            return {c.shard_id: int(c.position or 0) for c in await store.list(M)}
        finally:
            await store.close()

    positions = asyncio.run(stored())
    for shard, position in newest_acknowledged.items():
        # Never behind what was acknowledged; ahead by at most the one advance
        # the kill cut between its commit and its line.
        assert position <= positions[shard] <= position + 1
