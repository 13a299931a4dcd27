"""The ``EventSourceMappingStore`` contract, held against every adapter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from roost.store.errors import ConditionFailed, DuplicateMapping, StoreUnavailable
from roost.store.ports import EventSourceMappingStore, MappingRecord
from roost.store.sqlite import SqliteMappingStore
from tests.fixtures.stores import RunWithMappingStore

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:f"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


def record(
    uuid: str,
    *,
    account: str = "000000000000",
    function: str = FUNCTION,
    source: str = QUEUE,
    **document: object,
) -> MappingRecord:
    return MappingRecord(uuid, account, function, source, {"uuid": uuid, **document})


def test_put_creates_and_get_reads_back(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        revision = await store.put(record("a", batch=10))

        got = await store.get("a")

        assert got is not None
        assert got.revision == revision
        assert (got.account_id, got.function_arn, got.source_key) == (
            "000000000000",
            FUNCTION,
            QUEUE,
        )
        assert got.document == {"uuid": "a", "batch": 10}
        assert await store.get("missing") is None

    run_with_mapping_store(scenario)


def test_create_refuses_an_existing_uuid(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        await store.put(record("a"))

        with pytest.raises(ConditionFailed) as failed:
            await store.put(record("a", source="other"))

        assert failed.value.key == "a"

    run_with_mapping_store(scenario)


def test_compare_and_set_on_revision(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        first = await store.put(record("a", batch=1))
        second = await store.put(record("a", batch=2), expected_revision=first)
        assert second != first

        # A writer still holding the first revision loses and changes nothing.
        with pytest.raises(ConditionFailed):
            await store.put(record("a", batch=3), expected_revision=first)

        got = await store.get("a")
        assert got is not None and got.document["batch"] == 2 and got.revision == second

    run_with_mapping_store(scenario)


def test_update_of_a_missing_record_fails(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        with pytest.raises(ConditionFailed):
            await store.put(record("a"), expected_revision="whatever")
        assert await store.get("a") is None

    run_with_mapping_store(scenario)


def test_one_mapping_per_source_and_function(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        await store.put(record("a"))

        with pytest.raises(DuplicateMapping) as duplicate:
            await store.put(record("b"))

        assert duplicate.value.existing_uuid == "a"
        assert await store.get("b") is None
        # Another function, another source or another account is no duplicate.
        await store.put(record("c", function=FUNCTION + ":live"))
        await store.put(record("d", source=QUEUE + "2"))
        await store.put(record("e", account="111111111111"))

    run_with_mapping_store(scenario)


def test_an_update_cannot_make_a_duplicate(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        await store.put(record("a"))
        revision = await store.put(record("b", function=FUNCTION + ":live"))

        with pytest.raises(DuplicateMapping):
            await store.put(record("b"), expected_revision=revision)

        got = await store.get("b")
        assert got is not None and got.function_arn == FUNCTION + ":live"
        # Rewriting a record with its own source and function is fine.
        await store.put(record("b", function=FUNCTION + ":live"), expected_revision=revision)

    run_with_mapping_store(scenario)


def test_list_filters_in_uuid_order(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        await store.put(record("c"))
        await store.put(record("a", source=QUEUE + "2"))
        await store.put(record("b", function=FUNCTION + "2"))
        await store.put(record("d", account="111111111111"))

        def uuids(records: list[MappingRecord]) -> list[str]:
            return [r.uuid for r in records]

        assert uuids(await store.list()) == ["a", "b", "c", "d"]
        assert uuids(await store.list(account_id="000000000000")) == ["a", "b", "c"]
        assert uuids(await store.list(function_arn=FUNCTION)) == ["a", "c", "d"]
        assert uuids(await store.list(source_key=QUEUE)) == ["b", "c", "d"]
        both = await store.list(account_id="000000000000", function_arn=FUNCTION, source_key=QUEUE)
        assert uuids(both) == ["c"]

    run_with_mapping_store(scenario)


def test_list_pages_with_start_after_and_limit(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        for uuid in "abcde":
            await store.put(record(uuid, source=f"{QUEUE}-{uuid}"))

        first = await store.list(limit=2)
        second = await store.list(start_after=first[-1].uuid, limit=2)
        rest = await store.list(start_after=second[-1].uuid)

        assert [r.uuid for r in first + second + rest] == list("abcde")
        assert await store.list(limit=0) == []

    run_with_mapping_store(scenario)


def test_delete(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        revision = await store.put(record("a"))

        with pytest.raises(ConditionFailed):
            await store.delete("a", expected_revision="stale")
        assert await store.get("a") is not None

        assert await store.delete("a", expected_revision=revision) is True
        assert await store.get("a") is None
        assert await store.delete("a") is False  # idempotent without a revision
        with pytest.raises(ConditionFailed):
            await store.delete("a", expected_revision=revision)
        # The source and function are free again.
        await store.put(record("b"))

    run_with_mapping_store(scenario)


def test_documents_are_copies(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        document = {"uuid": "a", "nested": {"n": 1}}
        await store.put(MappingRecord("a", "000000000000", FUNCTION, QUEUE, document))
        document["nested"]["n"] = 2  # type: ignore[index]

        got = await store.get("a")
        assert got is not None
        got.document["nested"]["n"] = 3
        again = await store.get("a")
        assert again is not None and again.document["nested"] == {"n": 1}

    run_with_mapping_store(scenario)


def test_racing_creates_of_one_source_one_wins(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        outcomes = await asyncio.gather(
            *(store.put(record(f"m{i}")) for i in range(8)), return_exceptions=True
        )
        assert sum(isinstance(o, str) for o in outcomes) == 1
        assert all(isinstance(o, str | DuplicateMapping) for o in outcomes)
        assert len(await store.list()) == 1

    run_with_mapping_store(scenario)


def test_closed_store_is_unavailable(run_with_mapping_store: RunWithMappingStore) -> None:
    async def scenario(store: EventSourceMappingStore) -> None:
        await store.close()
        with pytest.raises(StoreUnavailable):
            await store.get("a")

    run_with_mapping_store(scenario)


def test_sqlite_mappings_survive_a_reopen(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await SqliteMappingStore.open(tmp_path / "mappings.db")
        revision = await store.put(record("a", batch=7))
        await store.close()

        reopened = await SqliteMappingStore.open(tmp_path / "mappings.db")
        try:
            got = await reopened.get("a")
            assert got is not None and got.revision == revision and got.document["batch"] == 7
            with pytest.raises(DuplicateMapping):
                await reopened.put(record("b"))
        finally:
            await reopened.close()

    asyncio.run(scenario())
