"""Settling transitions (the pollers' API) and the repository's compare-and-set."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from roost.esm.lifecycle import MappingActivator, settle_mapping
from roost.esm.mapping import EventSourceMapping, MappingSettings
from roost.esm.repository import MappingRepository
from roost.esm.sources import EventSource, SourceType
from roost.esm.states import MappingState
from roost.store.errors import ConditionFailed, DuplicateMapping
from roost.store.memory import MemoryMappingStore
from roost.store.ports import MappingRecord
from roost.store.sqlite.mappings import SqliteMappingStore

QUEUE = EventSource(SourceType.SQS, "arn:aws:sqs:us-east-1:000000000000:q")
STREAM = EventSource(SourceType.KINESIS, "arn:aws:kinesis:us-east-1:000000000000:stream/s")


def new_mapping(
    uuid: str = "m1", *, enabled: bool = True, source: EventSource = QUEUE
) -> EventSourceMapping:
    return EventSourceMapping(
        uuid=uuid,
        account_id="000000000000",
        region="us-east-1",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        source=source,
        settings=MappingSettings(batch_size=10),
        enabled=enabled,
    )


def run(scenario: Callable[[MappingRepository], Awaitable[None]]) -> None:
    async def main() -> None:
        store = MemoryMappingStore()
        await scenario(MappingRepository(store, clock=lambda: 1_000.0))
        await store.close()

    asyncio.run(main())


@pytest.mark.parametrize(("enabled", "state"), [(True, "Enabled"), (False, "Disabled")])
def test_settle_completes_creating(enabled: bool, state: str) -> None:
    async def scenario(mappings: MappingRepository) -> None:
        await mappings.create(new_mapping(enabled=enabled))

        settled = await settle_mapping(mappings, "m1")

        assert settled is not None and settled.state.value == state
        assert settled.last_modified_s == 1_000.0
        stored = await mappings.get("m1")
        assert stored is not None and stored.state.value == state
        # Idempotent: a stable mapping stays as it is.
        again = await settle_mapping(mappings, "m1")
        assert again is not None and again.revision == stored.revision

    run(scenario)


def test_settle_finishes_a_delete() -> None:
    async def scenario(mappings: MappingRepository) -> None:
        created = await mappings.create(new_mapping())
        await mappings.save(dataclasses.replace(created, state=MappingState.DELETING))

        assert await settle_mapping(mappings, "m1") is None
        assert await mappings.get("m1") is None
        assert await settle_mapping(mappings, "m1") is None

    run(scenario)


def test_save_is_compare_and_set() -> None:
    async def scenario(mappings: MappingRepository) -> None:
        created = await mappings.create(new_mapping())
        saved = await mappings.save(dataclasses.replace(created, enabled=False))

        with pytest.raises(ConditionFailed):
            await mappings.save(dataclasses.replace(created, enabled=True))

        assert saved.revision != created.revision
        with pytest.raises(ValueError):
            await mappings.save(new_mapping())

    run(scenario)


def test_transition_rereads_after_losing_a_race() -> None:
    async def scenario(mappings: MappingRepository) -> None:
        await mappings.create(new_mapping())
        seen: list[int | None] = []
        pending: list[EventSourceMapping] = []

        def change(current: EventSourceMapping) -> EventSourceMapping:
            seen.append(current.settings.batch_size)
            if len(seen) == 1:
                pending.append(current)
            return dataclasses.replace(current, enabled=False)

        real_save = mappings.save

        async def racing_save(mapping: EventSourceMapping) -> EventSourceMapping:
            if pending:
                # Another writer gets in between the first read and its write.
                other = pending.pop()
                await real_save(dataclasses.replace(other, settings=MappingSettings(batch_size=5)))
            return await real_save(mapping)

        mappings.save = racing_save  # type: ignore[method-assign]
        result = await mappings.transition("m1", change)

        assert seen == [10, 5]
        assert result is not None and not result.enabled and result.settings.batch_size == 5
        assert await mappings.transition("gone", change) is None

    run(scenario)


def test_duplicates_are_refused_by_the_repository() -> None:
    async def scenario(mappings: MappingRepository) -> None:
        await mappings.create(new_mapping("a"))
        with pytest.raises(DuplicateMapping):
            await mappings.create(new_mapping("b"))

    run(scenario)


def test_list_to_poll_selects_running_mappings_of_one_type() -> None:
    async def scenario(mappings: MappingRepository) -> None:
        await mappings.create(new_mapping("a"))
        await mappings.create(new_mapping("b", source=STREAM))
        await mappings.create(
            new_mapping(
                "c",
                enabled=False,
                source=EventSource(SourceType.SQS, "arn:aws:sqs:us-east-1:000000000000:other"),
            )
        )
        deleting = await mappings.create(
            new_mapping(
                "d", source=EventSource(SourceType.SQS, "arn:aws:sqs:us-east-1:000000000000:third")
            )
        )
        await mappings.save(dataclasses.replace(deleting, state=MappingState.DELETING))

        polled = await mappings.list_to_poll(SourceType.SQS)

        assert [m.uuid for m in polled] == ["a"]

    run(scenario)


def test_activator_settles_in_the_background_and_recovers() -> None:
    async def scenario(mappings: MappingRepository) -> None:
        manual = MappingActivator(mappings, auto_settle=False)
        await mappings.create(new_mapping("a"))
        created = await mappings.create(new_mapping("b", source=STREAM))
        await mappings.save(dataclasses.replace(created, state=MappingState.DELETING))

        manual.schedule("a")  # not auto: left for the pollers
        await asyncio.sleep(0)
        a = await mappings.get("a")
        assert a is not None and a.state is MappingState.CREATING
        # Recovery still finishes deletions, even without auto-settling.
        assert await manual.recover() == 2
        assert await mappings.get("b") is None
        await manual.stop()

        auto = MappingActivator(mappings)
        auto.schedule("a")
        await auto.stop()  # waits for the scheduled settle
        a = await mappings.get("a")
        assert a is not None and a.state is MappingState.ENABLED

    run(scenario)


def test_an_unreadable_mapping_does_not_keep_the_others_from_their_pollers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A document a newer (or broken) version wrote, in the real SQLite store: the lease
    keeper lists the mappings to poll at every heartbeat, and one bad record used to make
    every listing fail, so no new mapping got a poller. It is skipped and logged once."""

    async def scenario() -> list[str]:
        store = await SqliteMappingStore.open(tmp_path / "mappings.db")
        try:
            mappings = MappingRepository(store)
            await mappings.create(new_mapping("a"))
            broken = MappingRecord("b", "000000000000", "arn:fn", "arn:src", {"Uuid": "b"})
            await store.put(broken)
            first = await mappings.list_to_poll(SourceType.SQS)
            again = await mappings.list_to_poll(SourceType.SQS)
            assert [m.uuid for m in again] == [m.uuid for m in first]
            return [m.uuid for m in first]
        finally:
            await store.close()

    assert asyncio.run(scenario()) == ["a"]
    assert caplog.text.count("event source mapping b (revision") == 1
