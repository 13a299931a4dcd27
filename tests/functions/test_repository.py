"""Tests for the function, alias and attachment repositories, over every config store.

Each test is a scenario (an async function of a fresh store) that ``run_with_store``
runs under ``asyncio.run`` for the in-memory and the SQLite adapter.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from roost.functions.aliases import Alias, AliasRepository, alias_key
from roost.functions.attachments import AttachmentKind, AttachmentRepository, attachment_key
from roost.functions.model import CodeLocation, FunctionConfig, State
from roost.functions.repository import (
    FunctionRecord,
    FunctionRepository,
    cascade_prefixes,
    function_key,
    reservations_key,
    version_key,
)
from roost.store.errors import ConditionFailed
from roost.store.ports import ConfigStore, Put
from tests.fixtures.stores import RunWithStore

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"
CODE = CodeLocation(sha256_hex="ab" * 32, code_sha256="q83vEjRWeJA=", size_bytes=3)


def latest(name: str, **changes: object) -> FunctionConfig:
    config = FunctionConfig(
        name=name,
        runtime="python3.12",
        role="arn:aws:iam::123456789012:role/lambda-role",
        handler="app.handler",
        code=CODE,
        last_modified="2024-05-01T12:00:00.000+0000",
        revision_id="00000000-0000-0000-0000-000000000000",
    )
    return replace(config, **changes)  # type: ignore[arg-type]


def record(name: str, account_id: str = ACCOUNT, **changes: object) -> FunctionRecord:
    return FunctionRecord(account_id=account_id, latest=latest(name), **changes)  # type: ignore[arg-type]


def version(name: str, number: int) -> FunctionConfig:
    return latest(name, version=str(number), description=f"v{number}")


async def create_with_everything(
    store: ConfigStore, name: str, account_id: str = ACCOUNT
) -> FunctionRecord:
    """A function with versions 1-2, an alias and both kinds of attachment."""
    functions = FunctionRepository(store)
    created = await functions.create(
        record(name, account_id, last_version=2), [version(name, 1), version(name, 2)]
    )
    aliases = AliasRepository(store)
    await store.commit(
        [
            aliases.put(account_id, Alias("live", name, "1"), create=True),
            AttachmentRepository.put(
                AttachmentKind.POLICY, account_id, name, "$LATEST", {"Statement": []}
            ),
            AttachmentRepository.put(
                AttachmentKind.POLICY, account_id, name, "1", {"Statement": []}
            ),
            AttachmentRepository.put(
                AttachmentKind.EVENT_INVOKE_CONFIG, account_id, name, "live", {"Max": 1}
            ),
        ]
    )
    return created


async def everything_of(store: ConfigStore, name: str, account_id: str = ACCOUNT) -> list[str]:
    """Every key that belongs to the function, its record included."""
    keys = [i.key for i in await store.list(function_key(account_id, name))]
    keys = [k for k in keys if k == function_key(account_id, name)]
    for prefix in cascade_prefixes(account_id, name):
        keys.extend(i.key for i in await store.list(prefix))
    return keys


# --- keys -----------------------------------------------------------------------------


def test_key_layout() -> None:
    assert function_key(ACCOUNT, "fn") == f"fn/{ACCOUNT}/fn"
    assert version_key(ACCOUNT, "fn", 12) == f"ver/{ACCOUNT}/fn/0000000012"
    assert alias_key(ACCOUNT, "fn", "live") == f"alias/{ACCOUNT}/fn/live"
    assert reservations_key(ACCOUNT) == f"acct/{ACCOUNT}/reserved-concurrency"
    assert attachment_key(AttachmentKind.POLICY, ACCOUNT, "fn", "1") == f"att/policy/{ACCOUNT}/fn/1"
    assert attachment_key(AttachmentKind.EVENT_INVOKE_CONFIG, ACCOUNT, "fn", "$LATEST") == (
        f"att/eic/{ACCOUNT}/fn/$LATEST"
    )
    assert cascade_prefixes(ACCOUNT, "fn") == [
        f"ver/{ACCOUNT}/fn/",
        f"alias/{ACCOUNT}/fn/",
        f"att/policy/{ACCOUNT}/fn/",
        f"att/eic/{ACCOUNT}/fn/",
        f"att/pcc/{ACCOUNT}/fn/",
    ]


def test_record_document_round_trip() -> None:
    original = record("fn", tags={"team": "core"}, reserved_concurrency=5, last_version=3)

    restored = FunctionRecord.from_document(original.to_document(), "rev-1")

    assert restored == replace(original, store_revision="rev-1")
    assert restored.name == "fn"


# --- create, get, save ----------------------------------------------------------------


def test_create_then_get(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)

        created = await functions.create(record("fn", tags={"a": "b"}))
        found = await functions.get(ACCOUNT, "fn")

        assert created.store_revision is not None
        assert found == created
        assert await functions.get(ACCOUNT, "missing") is None
        assert await functions.get(OTHER_ACCOUNT, "fn") is None

    run_with_store(scenario)


def test_create_twice_fails_and_keeps_the_existing_function(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        first = await create_with_everything(store, "fn")
        before = await everything_of(store, "fn")

        with pytest.raises(ConditionFailed):
            await functions.create(record("fn", reserved_concurrency=1), [version("fn", 1)])

        assert await functions.get(ACCOUNT, "fn") == first
        assert await everything_of(store, "fn") == before

    run_with_store(scenario)


def test_same_name_in_another_account_is_another_function(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)

        await functions.create(record("fn"))
        await functions.create(record("fn", OTHER_ACCOUNT))

        assert len(await functions.list_all()) == 2

    run_with_store(scenario)


def test_save_with_a_stale_record_fails(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        created = await functions.create(record("fn"))

        saved = await functions.save(replace(created, latest=created.latest.revised(timeout_s=9)))
        with pytest.raises(ConditionFailed):
            await functions.save(replace(created, latest=created.latest.revised(timeout_s=20)))

        found = await functions.get(ACCOUNT, "fn")
        assert found is not None
        assert found.latest.timeout_s == 9
        assert found.store_revision == saved.store_revision != created.store_revision

    run_with_store(scenario)


def test_save_of_a_deleted_function_fails(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        created = await functions.create(record("fn"))
        await functions.delete(created)

        with pytest.raises(ConditionFailed):
            await functions.save(created)

        assert await functions.get(ACCOUNT, "fn") is None

    run_with_store(scenario)


def test_save_writes_versions_and_extra_writes_atomically(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        created = await functions.create(record("fn"))
        extra = AliasRepository(store).put(ACCOUNT, Alias("live", "fn", "1"), create=True)

        await functions.save(replace(created, last_version=1), [version("fn", 1)], [extra])

        assert await functions.get_version(ACCOUNT, "fn", 1) == version("fn", 1)
        assert await AliasRepository(store).get(ACCOUNT, "fn", "live") is not None

        # A failing extra write takes the record and the version with it.
        current = await functions.get(ACCOUNT, "fn")
        assert current is not None
        with pytest.raises(ConditionFailed):
            await functions.save(replace(current, last_version=2), [version("fn", 2)], [extra])
        assert await functions.get_version(ACCOUNT, "fn", 2) is None
        assert await functions.get(ACCOUNT, "fn") == current

    run_with_store(scenario)


def test_create_drops_leftovers_of_an_older_function_of_that_name(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        await store.commit(
            [
                Put(version_key(ACCOUNT, "fn", 1), version("fn", 1).to_document()),
                Put(alias_key(ACCOUNT, "fn", "old"), Alias("old", "fn", "1").to_document()),
            ]
        )

        await functions.create(record("fn"))

        assert await functions.list_versions(ACCOUNT, "fn") == []
        assert await AliasRepository(store).list(ACCOUNT, "fn") == []

    run_with_store(scenario)


# --- delete ---------------------------------------------------------------------------


def test_delete_cascades_but_spares_functions_sharing_a_name_prefix(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        doomed = await create_with_everything(store, "fn")
        await create_with_everything(store, "fn2")
        await create_with_everything(store, "fn-old")
        await create_with_everything(store, "fn", OTHER_ACCOUNT)
        spared = {
            (account, name): await everything_of(store, name, account)
            for account, name in [(ACCOUNT, "fn2"), (ACCOUNT, "fn-old"), (OTHER_ACCOUNT, "fn")]
        }
        assert all(len(keys) == 7 for keys in spared.values())

        await functions.delete(doomed)

        assert await functions.get(ACCOUNT, "fn") is None
        assert await everything_of(store, "fn") == []
        assert await functions.list_versions(ACCOUNT, "fn") == []
        assert await AliasRepository(store).list(ACCOUNT, "fn") == []
        for kind in AttachmentKind:
            assert await AttachmentRepository(store).list(kind, ACCOUNT, "fn") == []
        for (account, name), keys in spared.items():
            assert await everything_of(store, name, account) == keys

    run_with_store(scenario)


def test_delete_with_a_stale_record_fails_and_deletes_nothing(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        created = await create_with_everything(store, "fn")
        await functions.save(created)
        before = await everything_of(store, "fn")

        with pytest.raises(ConditionFailed):
            await functions.delete(created)

        assert await everything_of(store, "fn") == before

    run_with_store(scenario)


def test_delete_version_removes_only_that_version(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        created = await functions.create(
            record("fn", last_version=10), [version("fn", n) for n in (1, 10)]
        )
        attachments = AttachmentRepository(store)
        await store.commit(
            [
                attachments.put(kind, ACCOUNT, "fn", qualifier, {"q": qualifier})
                for kind in AttachmentKind
                for qualifier in ("1", "10", "$LATEST")
            ]
        )

        await functions.delete_version(created, 1)

        assert [v.version for v in await functions.list_versions(ACCOUNT, "fn")] == ["10"]
        for kind in AttachmentKind:
            left = [i.key.rsplit("/", 1)[1] for i in await attachments.list(kind, ACCOUNT, "fn")]
            assert left == ["$LATEST", "10"]

    run_with_store(scenario)


def test_delete_version_with_a_stale_record_fails_and_deletes_nothing(
    run_with_store: RunWithStore,
) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        created = await create_with_everything(store, "fn")
        # Another write of the function (e.g. an alias) between the read and the delete.
        await functions.save(created)
        before = await everything_of(store, "fn")

        with pytest.raises(ConditionFailed):
            await functions.delete_version(created, 2)

        assert await everything_of(store, "fn") == before

    run_with_store(scenario)


def test_delete_version_rewrites_the_record(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        created = await create_with_everything(store, "fn")

        after = await functions.delete_version(created, 2)

        assert after.store_revision != created.store_revision
        assert await functions.get(ACCOUNT, "fn") == after
        with pytest.raises(ConditionFailed):
            await functions.save(created)

    run_with_store(scenario)


# --- reservations ---------------------------------------------------------------------


def test_reservations_document_is_written_with_the_record(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        first = await functions.create(record("first"))
        second = await functions.create(record("second"))
        reservations = await functions.get_reservations(ACCOUNT)
        assert (reservations.by_function, reservations.store_revision) == ({}, None)

        await functions.save(
            replace(first, reserved_concurrency=5),
            also=[reservations.with_reservation("first", 5).write()],
        )
        with pytest.raises(ConditionFailed):  # Created by the other writer meanwhile.
            await functions.save(second, also=[reservations.write()])

        stored = await functions.get_reservations(ACCOUNT)
        assert stored.by_function == {"first": 5}
        assert stored.store_revision is not None
        assert stored.with_reservation("second", 7).total() == 12
        assert stored.with_reservation("second", 7).total(excluding="first") == 7
        assert stored.with_reservation("first", None).by_function == {}
        assert (await functions.get_reservations(OTHER_ACCOUNT)).by_function == {}

    run_with_store(scenario)


def test_reservations_of_older_data_come_from_the_records(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        await functions.create(record("first", reserved_concurrency=5))
        await functions.create(record("none"))
        await functions.create(record("zero", reserved_concurrency=0))

        reservations = await functions.get_reservations(ACCOUNT)

        assert reservations.by_function == {"first": 5, "zero": 0}
        assert reservations.store_revision is None
        assert await store.get(reservations_key(ACCOUNT)) is None

    run_with_store(scenario)


def test_delete_removes_the_functions_reservation(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        kept = await functions.create(record("kept"))
        dropped = await functions.create(record("dropped"))
        reservations = (await functions.get_reservations(ACCOUNT)).with_reservation("kept", 3)
        await functions.save(replace(kept, reserved_concurrency=3), also=[reservations.write()])
        reservations = (await functions.get_reservations(ACCOUNT)).with_reservation("dropped", 4)
        dropped = await functions.save(
            replace(dropped, reserved_concurrency=4), also=[reservations.write()]
        )

        await functions.delete(dropped)

        assert (await functions.get_reservations(ACCOUNT)).by_function == {"kept": 3}

    run_with_store(scenario)


# --- listing --------------------------------------------------------------------------


def test_list_pages_in_name_order(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        names = ["delta", "alpha", "echo", "charlie", "bravo", "alpha-2"]
        for name in names:
            await functions.create(record(name))
        await functions.create(record("zulu", OTHER_ACCOUNT))

        pages: list[list[str]] = []
        marker: str | None = None
        while True:
            page = await functions.list(ACCOUNT, start_after=marker, limit=2)
            if not page:
                break
            pages.append([r.name for r in page])
            marker = page[-1].name

        assert pages == [["alpha", "alpha-2"], ["bravo", "charlie"], ["delta", "echo"]]
        assert [r.name for r in await functions.list(ACCOUNT)] == sorted(names)
        assert [r.name for r in await functions.list(OTHER_ACCOUNT)] == ["zulu"]
        assert [r.name for r in await functions.list_all()] == [*sorted(names), "zulu"]

    run_with_store(scenario)


def test_list_versions_in_numeric_order_beyond_nine(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        created = await functions.create(record("fn", last_version=12))
        for number in [3, 12, 1, 10, 2, 11, 9, 4, 8, 5, 7, 6]:
            await functions.save_version(ACCOUNT, version("fn", number))
        await functions.create(record("fn1"), [version("fn1", 1)])

        listed = await functions.list_versions(ACCOUNT, "fn")
        after_nine = await functions.list_versions(ACCOUNT, "fn", after=9)
        page = await functions.list_versions(ACCOUNT, "fn", after=2, limit=3)

        assert [v.version for v in listed] == [str(n) for n in range(1, 13)]
        assert [v.version for v in after_nine] == ["10", "11", "12"]
        assert [v.version for v in page] == ["3", "4", "5"]
        assert created.last_version == 12

    run_with_store(scenario)


def test_get_and_overwrite_a_version(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        functions = FunctionRepository(store)
        await functions.create(record("fn", last_version=1), [version("fn", 1)])

        assert await functions.get_version(ACCOUNT, "fn", 1) == version("fn", 1)
        assert await functions.get_version(ACCOUNT, "fn", 2) is None

        active = replace(version("fn", 1), state=State.ACTIVE)
        await functions.save_version(ACCOUNT, active)
        assert await functions.get_version(ACCOUNT, "fn", 1) == active

    run_with_store(scenario)


# --- aliases and attachments ----------------------------------------------------------


def test_alias_document_round_trip_and_versions() -> None:
    alias = Alias("live", "fn", "1", "desc", {"2": 0.25})

    assert Alias.from_document(alias.to_document()) == alias
    assert alias.versions() == {"1", "2"}
    revised = alias.revised(function_version="3")
    assert revised.function_version == "3"
    assert revised.revision_id != alias.revision_id


def test_aliases_create_once_list_in_name_order_and_delete(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        aliases = AliasRepository(store)
        for name in ["prod", "beta", "live"]:
            await store.commit([aliases.put(ACCOUNT, Alias(name, "fn", "1"), create=True)])
        await store.commit([aliases.put(ACCOUNT, Alias("other", "fn2", "1"), create=True)])

        with pytest.raises(ConditionFailed):
            await store.commit([aliases.put(ACCOUNT, Alias("live", "fn", "2"), create=True)])
        updated = Alias("live", "fn", "2", routing_weights={"1": 0.5})
        await store.commit([aliases.put(ACCOUNT, updated, create=False)])
        await store.commit([aliases.delete(ACCOUNT, "fn", "beta")])

        assert [a.name for a in await aliases.list(ACCOUNT, "fn")] == ["live", "prod"]
        assert await aliases.get(ACCOUNT, "fn", "live") == updated
        assert await aliases.get(ACCOUNT, "fn", "beta") is None

    run_with_store(scenario)


def test_attachments_conditional_writes(run_with_store: RunWithStore) -> None:
    async def scenario(store: ConfigStore) -> None:
        attachments = AttachmentRepository(store)
        kind = AttachmentKind.POLICY
        await store.commit([attachments.put(kind, ACCOUNT, "fn", "1", {"v": 1}, if_absent=True)])
        first = await attachments.get(kind, ACCOUNT, "fn", "1")
        assert first is not None and first.value == {"v": 1}

        with pytest.raises(ConditionFailed):
            await store.commit([attachments.put(kind, ACCOUNT, "fn", "1", {}, if_absent=True)])
        await store.commit(
            [attachments.put(kind, ACCOUNT, "fn", "1", {"v": 2}, if_revision=first.revision)]
        )
        with pytest.raises(ConditionFailed):
            await store.commit(
                [attachments.put(kind, ACCOUNT, "fn", "1", {"v": 3}, if_revision=first.revision)]
            )
        assert await attachments.get(AttachmentKind.EVENT_INVOKE_CONFIG, ACCOUNT, "fn", "1") is None

        second = await attachments.get(kind, ACCOUNT, "fn", "1")
        assert second is not None
        with pytest.raises(ConditionFailed):
            await store.commit(
                [attachments.delete(kind, ACCOUNT, "fn", "1", if_revision=first.revision)]
            )
        await store.commit(
            [attachments.delete(kind, ACCOUNT, "fn", "1", if_revision=second.revision)]
        )
        assert await attachments.get(kind, ACCOUNT, "fn", "1") is None
        await store.commit([attachments.delete(kind, ACCOUNT, "fn", "1")])

    run_with_store(scenario)
