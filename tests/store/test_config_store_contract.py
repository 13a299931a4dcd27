"""The ``ConfigStore`` contract, run against every adapter.

Each test is a scenario (an async function of a fresh store) that the
``run_with_store`` fixture executes under ``asyncio.run`` for each adapter.
Adapter-specific behaviour (persistence, durability, schema) follows the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest

from roost.store.errors import ConditionFailed, StoreError, StoreUnavailable
from roost.store.ports import ConfigStore, Delete, DeletePrefix, Put
from roost.store.sqlite import SqliteConfigStore, SqliteDatabase
from roost.store.sqlite.config import prefix_upper_bound
from tests.fixtures.crash import acknowledged_before_sigkill
from tests.fixtures.stores import RunWithStore

# Reads


def test_get_of_missing_key_returns_none(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        assert await store.get("fn/missing") is None

    run_with_store(scenario)


def test_put_then_get_roundtrips_the_document(run_with_store: RunWithStore) -> None:
    document = {
        "FunctionName": "hello",
        "MemorySize": 128,
        "Timeout": 3.5,
        "Layers": ["a", "b"],
        "Environment": {"Variables": {"GREETING": "héllo ✓"}},
        "KMSKeyArn": None,
        "SnapStart": True,
    }

    async def scenario(store: ConfigStore) -> None:
        result = await store.commit([Put("fn/hello", document)])

        item = await store.get("fn/hello")

        assert item is not None
        assert item.key == "fn/hello"
        assert item.value == document
        assert item.revision == result.revisions["fn/hello"]

    run_with_store(scenario)


def test_revision_changes_on_every_write(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        seen = set()
        for _ in range(3):
            # The same value each time: the revision still moves.
            result = await store.commit([Put("fn/a", {"v": 1})])
            seen.add(result.revisions["fn/a"])
        item = await store.get("fn/a")

        assert len(seen) == 3
        assert item is not None and item.revision in seen

    run_with_store(scenario)


def test_documents_read_are_copies(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        document = {"nested": {"n": 1}}
        await store.commit([Put("fn/a", document)])
        document["nested"]["n"] = 2
        first = await store.get("fn/a")
        assert first is not None
        first.value["nested"]["n"] = 3

        second = await store.get("fn/a")

        assert second is not None
        assert second.value == {"nested": {"n": 1}}

    run_with_store(scenario)


def test_a_document_that_is_not_json_is_rejected_and_nothing_applied(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        with pytest.raises(TypeError):
            await store.commit([Put("fn/a", {"ok": 1}), Put("fn/b", {"bad": object()})])

        assert await store.list("fn/") == []

    run_with_store(scenario)


def test_empty_batch_is_a_no_op(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        result = await store.commit([])

        assert dict(result.revisions) == {}

    run_with_store(scenario)


# Conditional puts


def test_if_absent_creates_a_missing_key(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await store.commit([Put("fn/a", {"v": 1}, if_absent=True)])

        item = await store.get("fn/a")

        assert item is not None and item.value == {"v": 1}

    run_with_store(scenario)


def test_if_absent_fails_when_the_key_exists(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await store.commit([Put("fn/a", {"v": 1})])

        with pytest.raises(ConditionFailed) as failure:
            await store.commit([Put("fn/a", {"v": 2}, if_absent=True)])

        assert failure.value.key == "fn/a"
        item = await store.get("fn/a")
        assert item is not None and item.value == {"v": 1}

    run_with_store(scenario)


def test_if_revision_succeeds_on_the_current_revision(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        first = await store.commit([Put("fn/a", {"v": 1})])

        second = await store.commit([Put("fn/a", {"v": 2}, if_revision=first.revisions["fn/a"])])

        item = await store.get("fn/a")
        assert item is not None
        assert item.value == {"v": 2}
        assert item.revision == second.revisions["fn/a"] != first.revisions["fn/a"]

    run_with_store(scenario)


def test_if_revision_fails_on_a_stale_revision(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        stale = (await store.commit([Put("fn/a", {"v": 1})])).revisions["fn/a"]
        await store.commit([Put("fn/a", {"v": 2})])

        with pytest.raises(ConditionFailed) as failure:
            await store.commit([Put("fn/a", {"v": 3}, if_revision=stale)])

        assert failure.value.key == "fn/a"
        item = await store.get("fn/a")
        assert item is not None and item.value == {"v": 2}

    run_with_store(scenario)


def test_if_revision_fails_on_a_missing_key(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        with pytest.raises(ConditionFailed):
            await store.commit([Put("fn/a", {"v": 1}, if_revision="0" * 32)])

        assert await store.get("fn/a") is None

    run_with_store(scenario)


def test_only_one_of_concurrent_if_absent_puts_wins(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        outcomes = await asyncio.gather(
            *(store.commit([Put("fn/a", {"writer": n}, if_absent=True)]) for n in range(10)),
            return_exceptions=True,
        )

        winners = [o for o in outcomes if not isinstance(o, BaseException)]
        losers = [o for o in outcomes if isinstance(o, ConditionFailed)]
        assert (len(winners), len(losers)) == (1, 9)
        item = await store.get("fn/a")
        assert item is not None and item.revision == winners[0].revisions["fn/a"]

    run_with_store(scenario)


# Deletes


def test_delete_of_a_missing_key_without_condition_is_not_an_error(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        await store.commit([Delete("fn/missing")])

        assert await store.get("fn/missing") is None

    run_with_store(scenario)


def test_delete_removes_the_key(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await store.commit([Put("fn/a", {}), Put("fn/b", {})])

        await store.commit([Delete("fn/a")])

        assert await store.get("fn/a") is None
        assert await store.get("fn/b") is not None

    run_with_store(scenario)


def test_delete_with_if_revision(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        stale = (await store.commit([Put("fn/a", {"v": 1})])).revisions["fn/a"]
        current = (await store.commit([Put("fn/a", {"v": 2})])).revisions["fn/a"]

        with pytest.raises(ConditionFailed) as failure:
            await store.commit([Delete("fn/a", if_revision=stale)])
        assert failure.value.key == "fn/a"
        assert await store.get("fn/a") is not None

        await store.commit([Delete("fn/a", if_revision=current)])
        assert await store.get("fn/a") is None

        with pytest.raises(ConditionFailed):
            await store.commit([Delete("fn/a", if_revision=current)])

    run_with_store(scenario)


def test_delete_must_exist(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        with pytest.raises(ConditionFailed) as failure:
            await store.commit([Delete("fn/a", must_exist=True)])
        assert failure.value.key == "fn/a"

        await store.commit([Put("fn/a", {})])
        await store.commit([Delete("fn/a", must_exist=True)])

        assert await store.get("fn/a") is None

    run_with_store(scenario)


def test_delete_prefix_cascades_without_touching_a_sibling_prefix(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        await store.commit(
            [
                Put("a/fn/x/", {"what": "function"}),
                Put("a/fn/x/version/1", {}),
                Put("a/fn/x/alias/live", {}),
                Put("a/fn/xy/", {"what": "sibling"}),
                Put("a/fn/xy/version/1", {}),
                Put("a/fn/x", {"what": "no slash: not under a/fn/x/"}),
                Put("a/fn/w", {}),
            ]
        )

        await store.commit([DeletePrefix("a/fn/x/")])

        remaining = [item.key for item in await store.list("")]
        assert remaining == ["a/fn/w", "a/fn/x", "a/fn/xy/", "a/fn/xy/version/1"]

    run_with_store(scenario)


def test_delete_prefix_ending_in_a_non_ascii_character(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await store.commit([Put("a/é", {}), Put("a/é/1", {}), Put("a/ê", {}), Put("a/f", {})])

        await store.commit([DeletePrefix("a/é")])

        assert [item.key for item in await store.list("a/")] == ["a/f", "a/ê"]

    run_with_store(scenario)


def test_delete_prefix_of_nothing_is_not_an_error(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await store.commit([Put("b/1", {})])

        await store.commit([DeletePrefix("a/")])

        assert [item.key for item in await store.list("")] == ["b/1"]

    run_with_store(scenario)


# Batches


def test_a_batch_with_one_failing_condition_applies_nothing(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        base = await store.commit([Put("fn/a", {"v": 1}), Put("fn/b", {"v": 1})])

        with pytest.raises(ConditionFailed) as failure:
            await store.commit(
                [
                    Put("fn/a", {"v": 2}, if_revision=base.revisions["fn/a"]),
                    Put("fn/new", {"v": 2}, if_absent=True),
                    Delete("fn/b"),
                    DeletePrefix("fn/"),
                    Put("fn/b", {"v": 2}, if_absent=True),
                    Delete("fn/missing", must_exist=True),
                ]
            )

        # The first condition that did not hold is named.
        assert failure.value.key == "fn/b"
        items = await store.list("fn/")
        assert [(i.key, i.value, i.revision) for i in items] == [
            ("fn/a", {"v": 1}, base.revisions["fn/a"]),
            ("fn/b", {"v": 1}, base.revisions["fn/b"]),
        ]

    run_with_store(scenario)


def test_a_batch_applies_every_write(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        base = await store.commit([Put("fn/a", {"v": 1}), Put("fn/gone", {})])

        result = await store.commit(
            [
                Put("fn/a", {"v": 2}, if_revision=base.revisions["fn/a"]),
                Put("fn/b", {"v": 1}, if_absent=True),
                Delete("fn/gone", must_exist=True),
            ]
        )

        assert set(result.revisions) == {"fn/a", "fn/b"}
        items = await store.list("fn/")
        assert [(i.key, i.value, i.revision) for i in items] == [
            ("fn/a", {"v": 2}, result.revisions["fn/a"]),
            ("fn/b", {"v": 1}, result.revisions["fn/b"]),
        ]

    run_with_store(scenario)


def test_conditions_see_the_state_before_the_batch(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await store.commit([Put("fn/a", {"v": 1})])

        # The delete earlier in the batch does not make the key absent for the
        # condition: every condition is checked before any write is applied.
        with pytest.raises(ConditionFailed):
            await store.commit([Delete("fn/a"), Put("fn/a", {"v": 2}, if_absent=True)])

        item = await store.get("fn/a")
        assert item is not None and item.value == {"v": 1}

    run_with_store(scenario)


def test_writes_of_a_batch_apply_in_order(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await store.commit([Put("fn/x/old", {}), DeletePrefix("fn/x/"), Put("fn/x/new", {})])

        assert [item.key for item in await store.list("fn/")] == ["fn/x/new"]

    run_with_store(scenario)


# Listing


async def _put_keys(store: ConfigStore, *keys: str) -> None:
    await store.commit([Put(key, {"key": key}) for key in keys])


def test_list_returns_the_keys_under_a_prefix_in_key_order(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        await _put_keys(store, "fn/b", "fn/é", "fn/a", "fn/\U0001f600", "fm/z", "fo/a", "fn/a/1")

        items = await store.list("fn/")

        assert [item.key for item in items] == ["fn/a", "fn/a/1", "fn/b", "fn/é", "fn/\U0001f600"]
        assert all(item.value == {"key": item.key} for item in items)

    run_with_store(scenario)


def test_list_with_an_empty_prefix_returns_everything(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await _put_keys(store, "b", "a", "c/1")

        assert [item.key for item in await store.list("")] == ["a", "b", "c/1"]

    run_with_store(scenario)


def test_list_pages_with_start_after_and_limit(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await _put_keys(store, *(f"fn/{n:02d}" for n in range(7)), "fo/00")

        pages: list[list[str]] = []
        start_after: str | None = None
        while True:
            page = await store.list("fn/", start_after=start_after, limit=3)
            if not page:
                break
            pages.append([item.key for item in page])
            start_after = page[-1].key

        assert pages == [["fn/00", "fn/01", "fn/02"], ["fn/03", "fn/04", "fn/05"], ["fn/06"]]

    run_with_store(scenario)


def test_list_start_after_need_not_be_a_stored_key(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await _put_keys(store, "fn/a", "fn/c", "fn/e")

        after_b = await store.list("fn/", start_after="fn/b")
        after_all = await store.list("fn/", start_after="fz")

        assert [item.key for item in after_b] == ["fn/c", "fn/e"]
        assert after_all == []

    run_with_store(scenario)


def test_list_start_after_below_the_prefix_keeps_a_key_equal_to_it(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        await _put_keys(store, "a", "fn/", "fn/a")

        items = await store.list("fn/", start_after="a")

        assert [item.key for item in items] == ["fn/", "fn/a"]

    run_with_store(scenario)


def test_list_limit_zero_returns_nothing(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await _put_keys(store, "fn/a")

        assert await store.list("fn/", limit=0) == []

    run_with_store(scenario)


# Lifecycle


def test_a_closed_store_raises_store_unavailable(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        await store.commit([Put("fn/a", {})])

        await store.close()

        with pytest.raises(StoreUnavailable):
            await store.get("fn/a")
        with pytest.raises(StoreUnavailable):
            await store.list("fn/")
        with pytest.raises(StoreUnavailable):
            await store.commit([Put("fn/b", {})])
        await store.close()  # Idempotent.

    run_with_store(scenario)


def test_adapters_satisfy_the_protocol(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        assert isinstance(store, ConfigStore)

    run_with_store(scenario)


# SQLite only


def test_sqlite_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "data" / "config.sqlite3"

    async def main() -> None:
        store = await SqliteConfigStore.open(path)
        written = await store.commit([Put("fn/a", {"v": 1}), Put("fn/b", {"v": 2})])
        await store.commit([Delete("fn/b")])
        await store.close()

        reopened = await SqliteConfigStore.open(path)
        try:
            item = await reopened.get("fn/a")
            assert item is not None
            assert (item.value, item.revision) == ({"v": 1}, written.revisions["fn/a"])
            assert await reopened.get("fn/b") is None
        finally:
            await reopened.close()

    asyncio.run(main())


def test_sqlite_opens_lazily_without_open(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteConfigStore(tmp_path / "config.sqlite3")
        try:
            await store.commit([Put("fn/a", {})])
            assert await store.get("fn/a") is not None
        finally:
            await store.close()

    asyncio.run(main())


def test_sqlite_file_is_wal_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "config.sqlite3"

    async def open_and_close() -> None:
        await (await SqliteConfigStore.open(path)).close()

    asyncio.run(open_and_close())
    asyncio.run(open_and_close())  # Creating the schema again is a no-op.

    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA user_version").fetchone() == (1,)


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "config.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA user_version=99")

    with pytest.raises(StoreError, match="schema version 99"):
        asyncio.run(SqliteConfigStore.open(path))


def test_sqlite_unopenable_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "config.sqlite3").mkdir()

    with pytest.raises(StoreUnavailable):
        asyncio.run(SqliteConfigStore.open(tmp_path / "config.sqlite3"))


def test_sqlite_work_runs_on_one_thread_off_the_loop_with_full_sync(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "db.sqlite3", migrations=[])

    async def main() -> tuple[set[int], int]:
        try:
            threads = await asyncio.gather(
                *(database.run(lambda _: threading.get_ident()) for _ in range(5))
            )
            synchronous = await database.run(
                lambda connection: int(connection.execute("PRAGMA synchronous").fetchone()[0])
            )
            return set(threads), synchronous
        finally:
            await database.close()

    threads, synchronous = asyncio.run(main())

    assert len(threads) == 1
    assert threading.get_ident() not in threads
    assert synchronous == 2  # FULL


@pytest.mark.parametrize(
    ("prefix", "bound"),
    [
        ("", None),
        ("a/fn/", "a/fn0"),
        ("a/é", "a/ê"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", None),
        ("a\ud7ff", "a\ue000"),
    ],
)
def test_prefix_upper_bound(prefix: str, bound: str | None) -> None:
    assert prefix_upper_bound(prefix) == bound


# Durability: every key acknowledged before a SIGKILL is on disk afterwards.

_SQLITE_WRITER = """
import asyncio, sys
from pathlib import Path
from roost.store.ports import Put
from roost.store.sqlite import SqliteConfigStore, SqliteDatabase


async def main() -> None:
    store = await SqliteConfigStore.open(Path(sys.argv[1]))
    for n in range(1_000_000):
        key = f"fn/{n:07d}"
        await store.commit([Put(key, {"n": n})])
        print(key, flush=True)

asyncio.run(main())
"""

ACKS_BEFORE_KILL = 25


def test_sqlite_acknowledged_commits_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "config.sqlite3"
    keys = acknowledged_before_sigkill(_SQLITE_WRITER, str(path), acks_before_kill=ACKS_BEFORE_KILL)

    async def stored_keys() -> list[str]:
        store = await SqliteConfigStore.open(path)
        try:
            return [item.key for item in await store.list("fn/")]
        finally:
            await store.close()

    stored = asyncio.run(stored_keys())
    assert set(keys) <= set(stored)
