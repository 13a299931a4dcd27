"""Tests for ``FunctionActivator``: Pending -> Active, InProgress -> Successful, or Failed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import pytest

from roost.functions.lifecycle import (
    FIRST_RETRY_DELAY_S,
    MAX_RETRY_DELAY_S,
    FunctionActivator,
    backoff_delays,
    needs_activation,
)
from roost.functions.model import CodeLocation, FunctionConfig, State, UpdateStatus
from roost.functions.repository import FunctionRecord, FunctionRepository
from roost.store.errors import ConditionFailed, StoreUnavailable
from roost.store.memory import MemoryCodeStore, MemoryConfigStore
from roost.store.ports import CommitResult, Write

ACCOUNT = "111111111111"
ZIP = b"PK\x05\x06" + b"\x00" * 18
MISSING = CodeLocation(sha256_hex="00" * 32, code_sha256="AAAA", size_bytes=1)
NOT_FOUND = "The function's deployment package could not be found."


class World:
    """A memory config store and code store with a function repository and activator."""

    def __init__(self) -> None:
        self.store = MemoryConfigStore()
        self.code = MemoryCodeStore()
        self.functions = FunctionRepository(self.store)
        self.activator = FunctionActivator(self.functions, self.code)

    async def present_code(self) -> CodeLocation:
        ref = await self.code.put(ZIP)
        return CodeLocation(ref.sha256_hex, "digest", ref.size_bytes)

    async def create(
        self,
        name: str,
        code: CodeLocation,
        versions: Sequence[FunctionConfig] = (),
        **changes: object,
    ) -> FunctionRecord:
        latest = replace(config(name, code), **changes)  # type: ignore[arg-type]
        return await self.functions.create(
            FunctionRecord(ACCOUNT, latest, last_version=len(versions)), versions
        )

    async def latest(self, name: str) -> FunctionConfig:
        found = await self.functions.get(ACCOUNT, name)
        assert found is not None
        return found.latest

    async def close(self) -> None:
        await self.activator.stop()
        await self.store.close()


def config(name: str, code: CodeLocation, number: int | None = None) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        runtime="python3.12",
        role="arn:aws:iam::123456789012:role/lambda-role",
        handler="app.handler",
        code=code,
        version="$LATEST" if number is None else str(number),
    )


def run(scenario: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        try:
            await scenario(world)
        finally:
            await world.close()

    asyncio.run(main())


# --- needs_activation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "status", "expected"),
    [
        (State.PENDING, None, True),
        (State.ACTIVE, UpdateStatus.IN_PROGRESS, True),
        (State.ACTIVE, UpdateStatus.SUCCESSFUL, False),
        (State.ACTIVE, None, False),
        (State.FAILED, UpdateStatus.FAILED, False),
        (State.FAILED, UpdateStatus.IN_PROGRESS, True),
    ],
)
def test_needs_activation(state: State, status: UpdateStatus | None, expected: bool) -> None:
    version = replace(config("fn", MISSING), state=state, last_update_status=status)
    assert needs_activation(version) is expected


# --- transitions ----------------------------------------------------------------------


def test_pending_becomes_active_when_the_code_is_there() -> None:
    async def scenario(world: World) -> None:
        await world.create("fn", await world.present_code())

        await world.activator.activate(ACCOUNT, "fn")

        latest = await world.latest("fn")
        assert latest.state is State.ACTIVE
        assert latest.state_reason is None
        assert latest.state_reason_code is None
        assert latest.last_update_status is UpdateStatus.SUCCESSFUL

    run(scenario)


def test_pending_fails_with_a_reason_when_the_code_is_missing() -> None:
    async def scenario(world: World) -> None:
        await world.create("fn", MISSING)

        await world.activator.activate(ACCOUNT, "fn")

        latest = await world.latest("fn")
        assert latest.state is State.FAILED
        assert latest.state_reason == NOT_FOUND
        assert latest.state_reason_code == "InvalidZipFileException"
        assert latest.last_update_status is UpdateStatus.FAILED
        assert latest.last_update_status_reason == NOT_FOUND
        assert latest.last_update_status_reason_code == "InvalidZipFileException"

    run(scenario)


def test_update_in_progress_becomes_successful() -> None:
    async def scenario(world: World) -> None:
        await world.create(
            "fn",
            await world.present_code(),
            state=State.ACTIVE,
            last_update_status=UpdateStatus.IN_PROGRESS,
        )

        await world.activator.activate(ACCOUNT, "fn")

        latest = await world.latest("fn")
        assert latest.state is State.ACTIVE
        assert latest.last_update_status is UpdateStatus.SUCCESSFUL
        assert latest.last_update_status_reason is None

    run(scenario)


def test_failed_update_keeps_the_function_active() -> None:
    async def scenario(world: World) -> None:
        await world.create(
            "fn", MISSING, state=State.ACTIVE, last_update_status=UpdateStatus.IN_PROGRESS
        )

        await world.activator.activate(ACCOUNT, "fn")

        latest = await world.latest("fn")
        assert latest.state is State.ACTIVE
        assert latest.last_update_status is UpdateStatus.FAILED
        assert latest.last_update_status_reason == NOT_FOUND

    run(scenario)


def test_successful_update_of_a_failed_function_makes_it_active() -> None:
    async def scenario(world: World) -> None:
        await world.create(
            "fn",
            await world.present_code(),
            state=State.FAILED,
            state_reason=NOT_FOUND,
            state_reason_code="InvalidZipFileException",
            last_update_status=UpdateStatus.IN_PROGRESS,
        )

        await world.activator.activate(ACCOUNT, "fn")

        latest = await world.latest("fn")
        assert latest.state is State.ACTIVE
        assert latest.state_reason is None
        assert latest.state_reason_code is None
        assert latest.last_update_status is UpdateStatus.SUCCESSFUL

    run(scenario)


def test_published_versions_are_activated_too() -> None:
    async def scenario(world: World) -> None:
        present = await world.present_code()
        versions = [config("fn", present, 1), config("fn", MISSING, 2)]
        await world.create("fn", present, versions)

        await world.activator.activate(ACCOUNT, "fn")

        first, second = await world.functions.list_versions(ACCOUNT, "fn")
        assert (first.version, first.state) == ("1", State.ACTIVE)
        assert first.last_update_status is UpdateStatus.SUCCESSFUL
        assert (second.version, second.state) == ("2", State.FAILED)
        assert second.state_reason == NOT_FOUND
        assert (await world.latest("fn")).state is State.ACTIVE

    run(scenario)


def test_only_the_state_fields_and_the_revision_change() -> None:
    async def scenario(world: World) -> None:
        created = await world.create("fn", await world.present_code())

        await world.activator.activate(ACCOUNT, "fn")

        after = await world.latest("fn")
        assert after.revision_id != created.latest.revision_id
        before = replace(
            after,
            state=State.PENDING,
            last_update_status=None,
            revision_id=created.latest.revision_id,
        )
        assert before == created.latest

    run(scenario)


def test_completing_a_transition_gives_each_version_a_new_revision() -> None:
    # AWS changes RevisionId again when a create or an update finishes.
    async def scenario(world: World) -> None:
        present = await world.present_code()
        versions = [config("fn", present, 1), config("fn", MISSING, 2)]
        created = await world.create(
            "fn", present, versions, last_update_status=UpdateStatus.IN_PROGRESS
        )
        before = {c.version: c.revision_id for c in [created.latest, *versions]}

        await world.activator.activate(ACCOUNT, "fn")

        after = {
            c.version: c.revision_id
            for c in [await world.latest("fn"), *await world.functions.list_versions(ACCOUNT, "fn")]
        }
        assert after.keys() == before.keys()
        assert all(after[v] != before[v] for v in before), (before, after)
        assert len(set(after.values())) == len(after)

    run(scenario)


def test_activation_is_idempotent() -> None:
    async def scenario(world: World) -> None:
        await world.create("fn", await world.present_code(), [config("fn", MISSING, 1)])
        await world.activator.activate(ACCOUNT, "fn")
        record = await world.functions.get(ACCOUNT, "fn")
        versions = await world.functions.list_versions(ACCOUNT, "fn")

        await world.activator.activate(ACCOUNT, "fn")

        assert await world.functions.get(ACCOUNT, "fn") == record  # Not even rewritten.
        assert await world.functions.list_versions(ACCOUNT, "fn") == versions

    run(scenario)


def test_activating_a_missing_function_does_nothing() -> None:
    async def scenario(world: World) -> None:
        await world.activator.activate(ACCOUNT, "nobody")

        assert await world.functions.list_all() == []

    run(scenario)


def test_a_concurrent_write_is_retried_on_the_fresh_record() -> None:
    class ConflictOnce(FunctionRepository):
        conflicts = 0

        async def save(
            self,
            record: FunctionRecord,
            versions: Sequence[FunctionConfig] = (),
            also: Sequence[Write] = (),
        ) -> FunctionRecord:
            if self.conflicts == 0:
                self.conflicts += 1
                # Someone else updates the function between our read and our write.
                fresh = await self.get(record.account_id, record.name)
                assert fresh is not None
                await super().save(replace(fresh, tags={"written": "meanwhile"}))
            return await super().save(record, versions, also)

    async def scenario(world: World) -> None:
        await world.create("fn", await world.present_code())
        functions = ConflictOnce(world.store)

        await FunctionActivator(functions, world.code).activate(ACCOUNT, "fn")

        found = await functions.get(ACCOUNT, "fn")
        assert found is not None
        assert found.tags == {"written": "meanwhile"}
        assert found.latest.state is State.ACTIVE
        assert functions.conflicts == 1

    run(scenario)


class AlwaysConflicts(FunctionRepository):
    """Every save loses to a concurrent writer."""

    saves = 0

    async def save(
        self,
        record: FunctionRecord,
        versions: Sequence[FunctionConfig] = (),
        also: Sequence[Write] = (),
    ) -> FunctionRecord:
        self.saves += 1
        raise ConditionFailed("fn")


class FailingCommits(MemoryConfigStore):
    """A memory store whose next ``failures`` commits raise ``StoreUnavailable``."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.failed = 0

    async def commit(self, writes: Sequence[Write]) -> CommitResult:
        if self.failures > 0:
            self.failures -= 1
            self.failed += 1
            raise StoreUnavailable("store is down")
        return await super().commit(writes)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Let background tasks run until ``condition()`` holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


def test_backoff_doubles_from_its_first_delay_up_to_the_cap() -> None:
    delays = backoff_delays(0.05, 5.0)

    assert [next(delays) for _ in range(10)] == [
        0.05,
        0.1,
        0.2,
        0.4,
        0.8,
        1.6,
        3.2,
        5.0,
        5.0,
        5.0,
    ]
    assert (FIRST_RETRY_DELAY_S, MAX_RETRY_DELAY_S) == (0.05, 5.0)


def test_store_failures_are_retried_until_the_transition_completes() -> None:
    async def scenario(world: World) -> None:
        store = FailingCommits()
        functions = FunctionRepository(store)
        activator = FunctionActivator(functions, world.code, first_retry_delay_s=0.001)
        code = await world.present_code()
        await functions.create(FunctionRecord(ACCOUNT, config("fn", code)))
        store.failures = 4

        assert await activator.activate(ACCOUNT, "fn") is True

        assert store.failed == 4
        found = await functions.get(ACCOUNT, "fn")
        assert found is not None and found.latest.state is State.ACTIVE
        await activator.stop()

    run(scenario)


def test_conflicts_are_retried_beyond_ten_until_stopped() -> None:
    async def scenario(world: World) -> None:
        await world.create("fn", await world.present_code())
        functions = AlwaysConflicts(world.store)
        activator = FunctionActivator(
            functions, world.code, first_retry_delay_s=0.0001, max_retry_delay_s=0.001
        )

        activator.schedule(ACCOUNT, "fn")
        await until(lambda: functions.saves > 20)
        await activator.stop()

        assert (await world.latest("fn")).state is State.PENDING

    run(scenario)


def test_stop_cancels_a_pending_retry_promptly() -> None:
    async def scenario(world: World) -> None:
        await world.create("fn", await world.present_code())
        functions = AlwaysConflicts(world.store)
        activator = FunctionActivator(functions, world.code, first_retry_delay_s=60.0)
        activator.schedule(ACCOUNT, "fn")
        await until(lambda: functions.saves == 1)  # Now waiting a minute to retry.

        started = time.monotonic()
        await asyncio.wait_for(activator.stop(), timeout=5)

        assert time.monotonic() - started < 1
        assert functions.saves == 1

    run(scenario)


def test_a_retry_stops_when_the_function_is_deleted() -> None:
    async def scenario(world: World) -> None:
        store = FailingCommits()
        functions = FunctionRepository(store)
        activator = FunctionActivator(functions, world.code, first_retry_delay_s=0.2)
        created = await functions.create(FunctionRecord(ACCOUNT, config("fn", MISSING)))
        store.failures = 1
        activation = asyncio.create_task(activator.activate(ACCOUNT, "fn"))
        await until(lambda: store.failed == 1)

        await functions.delete(created)  # Before the retry, due 0.2 s after the failure.

        assert await asyncio.wait_for(activation, timeout=5) is False
        assert await functions.get(ACCOUNT, "fn") is None

    run(scenario)


def test_a_function_deleted_during_activation_stays_deleted() -> None:
    class DeletedMeanwhile(FunctionRepository):
        async def list_versions(
            self, account_id: str, name: str, *, after: int | None = None, limit: int | None = None
        ) -> list[FunctionConfig]:
            versions = await super().list_versions(account_id, name, after=after, limit=limit)
            current = await self.get(account_id, name)
            if current is not None:
                await self.delete(current)  # DeleteFunction lands between read and write.
            return versions

    async def scenario(world: World) -> None:
        present = await world.present_code()
        await world.create("fn", present, [config("fn", present, 1)])

        await FunctionActivator(DeletedMeanwhile(world.store), world.code).activate(ACCOUNT, "fn")

        assert await world.functions.get(ACCOUNT, "fn") is None
        assert await world.functions.list_versions(ACCOUNT, "fn") == []

    run(scenario)


# --- background and recovery ----------------------------------------------------------


def test_scheduled_activation_completes_by_stop() -> None:
    async def scenario(world: World) -> None:
        await world.create("a", await world.present_code())
        await world.create("b", MISSING)

        world.activator.schedule(ACCOUNT, "a")
        world.activator.schedule(ACCOUNT, "b")
        await world.activator.stop()

        assert (await world.latest("a")).state is State.ACTIVE
        assert (await world.latest("b")).state is State.FAILED

    run(scenario)


def test_recover_finishes_transitions_left_pending() -> None:
    async def scenario(world: World) -> None:
        present = await world.present_code()
        await world.create("pending", present)
        await world.create("updating", present, last_update_status=UpdateStatus.IN_PROGRESS)
        await world.create(
            "pending-version",
            present,
            [config("pending-version", present, 1)],
            state=State.ACTIVE,
            last_update_status=UpdateStatus.SUCCESSFUL,
        )
        await world.create("broken", MISSING)

        await world.activator.recover()

        assert (await world.latest("pending")).state is State.ACTIVE
        updating = await world.latest("updating")
        assert updating.last_update_status is UpdateStatus.SUCCESSFUL
        (published,) = await world.functions.list_versions(ACCOUNT, "pending-version")
        assert published.state is State.ACTIVE
        assert (await world.latest("broken")).state is State.FAILED
        for record in await world.functions.list_all():
            assert not needs_activation(record.latest)

    run(scenario)


def test_recover_twice_changes_nothing_more() -> None:
    async def scenario(world: World) -> None:
        present = await world.present_code()
        await world.create("fn", present, [config("fn", present, 1)])
        await world.activator.recover()
        records = await world.functions.list_all()
        versions = await world.functions.list_versions(ACCOUNT, "fn")

        await world.activator.recover()

        assert await world.functions.list_all() == records
        assert await world.functions.list_versions(ACCOUNT, "fn") == versions

    run(scenario)


def test_recover_leaves_what_fails_to_a_background_retry() -> None:
    async def scenario(world: World) -> None:
        store = FailingCommits()
        functions = FunctionRepository(store)
        activator = FunctionActivator(functions, world.code, first_retry_delay_s=0.001)
        await functions.create(FunctionRecord(ACCOUNT, config("fn", await world.present_code())))
        store.failures = 2

        assert await activator.recover() == 0  # The start does not wait for the store.
        # The retry after the second failure completes the transition in the
        # background; the activator stops only once it has.
        activations = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        await asyncio.wait_for(asyncio.gather(*activations), 5)
        await activator.stop()

        found = await functions.get(ACCOUNT, "fn")
        assert store.failed == 2
        assert found is not None and found.latest.state is State.ACTIVE

    run(scenario)


def test_recover_counts_only_functions_that_had_something_pending() -> None:
    async def scenario(world: World) -> None:
        present = await world.present_code()
        active = {"state": State.ACTIVE, "last_update_status": UpdateStatus.SUCCESSFUL}
        done_version = replace(config("settled", present, 1), **active)  # type: ignore[arg-type]
        await world.create("settled", present, [done_version], **active)
        await world.create("pending", present)

        assert await world.activator.recover() == 1

    run(scenario)
