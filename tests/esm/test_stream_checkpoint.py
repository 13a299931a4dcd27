"""The stream checkpoint manager over an in-memory checkpoint store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from roost.esm.stream_checkpoint import StreamCheckpointManager
from roost.store.errors import StoreUnavailable
from roost.store.memory import MemoryCheckpointStore
from roost.store.ports import ShardCheckpoint

M = "m1"
SHARD = "shardId-000000000000"


class FlakyStore(MemoryCheckpointStore):
    """Fails the next ``failures`` advances; ``lands`` makes a failure happen after the write."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.lands = False
        self.advances = 0

    async def advance(
        self, mapping_uuid: str, shard_id: str, position: str, *, expected_revision: str
    ) -> str:
        self.advances += 1
        if self.failures and not self.lands:
            self.failures -= 1
            raise StoreUnavailable("store down")
        revision = await super().advance(
            mapping_uuid, shard_id, position, expected_revision=expected_revision
        )
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("no answer")  # written, but the caller cannot know
        return revision


def run(scenario: Callable[[FlakyStore], Awaitable[None]]) -> None:
    asyncio.run(scenario(FlakyStore()))


def manager(
    store: MemoryCheckpointStore, owner: str = "poller-a", holds: Callable[[], bool] = lambda: True
) -> StreamCheckpointManager:
    return StreamCheckpointManager(store, M, SHARD, owner, holds, retry_delay_s=0)


async def stored(store: MemoryCheckpointStore) -> ShardCheckpoint:
    checkpoint = await store.get(M, SHARD)
    assert checkpoint is not None
    return checkpoint


def test_a_done_batch_moves_the_checkpoint_to_its_last_record() -> None:
    async def scenario(store: FlakyStore) -> None:
        checkpoints = manager(store)
        assert (await checkpoints.claim()).position is None

        ticket = checkpoints.begin("105")
        assert (await stored(store)).position is None  # read, not done

        assert await checkpoints.complete(ticket) is True
        assert (await stored(store)).position == "105"
        assert checkpoints.position == "105" and checkpoints.in_flight == 0

    run(scenario)


def test_a_new_owner_resumes_from_the_checkpoint() -> None:
    async def scenario(store: FlakyStore) -> None:
        first = manager(store, "poller-a")
        await first.claim()
        await first.complete(first.begin("7"))

        resumed = await manager(store, "poller-b").claim()

        assert (resumed.position, resumed.owner) == ("7", "poller-b")

    run(scenario)


def test_a_later_batch_done_first_waits_for_the_earlier_ones() -> None:
    async def scenario(store: FlakyStore) -> None:
        # ParallelizationFactor > 1: three batches of one shard in flight at once.
        checkpoints = manager(store)
        await checkpoints.claim()
        first, second, third = (checkpoints.begin(p) for p in ("9", "10", "11"))

        await checkpoints.complete(third)
        await checkpoints.complete(second)
        assert (await stored(store)).position is None

        await checkpoints.complete(first)
        assert (await stored(store)).position == "11"
        assert store.advances == 1  # one write covers all three

    run(scenario)


def test_a_partly_done_batch_moves_the_checkpoint_to_its_last_done_record() -> None:
    async def scenario(store: FlakyStore) -> None:
        # A partial batch response (or the good half of a bisected batch).
        checkpoints = manager(store)
        await checkpoints.claim()
        batch = checkpoints.begin("20")
        later = checkpoints.begin("30")

        await checkpoints.progress(batch, "14")
        await checkpoints.complete(later)
        assert (await stored(store)).position == "14"

        await checkpoints.complete(batch)
        assert (await stored(store)).position == "30"

    run(scenario)


def test_nothing_is_written_without_the_lease_and_the_position_stays_pending() -> None:
    async def scenario(store: FlakyStore) -> None:
        held = False
        checkpoints = manager(store, holds=lambda: held)
        await checkpoints.claim()

        assert await checkpoints.complete(checkpoints.begin("5")) is False
        assert (await stored(store)).position is None

        held = True
        assert await checkpoints.complete(checkpoints.begin("6")) is True
        assert (await stored(store)).position == "6"

    run(scenario)


def test_an_owner_taken_over_is_fenced_for_good() -> None:
    async def scenario(store: FlakyStore) -> None:
        old = manager(store, "poller-a")
        await old.claim()
        await old.complete(old.begin("5"))
        new = manager(store, "poller-b")
        await new.claim()
        await new.complete(new.begin("8"))

        # The old owner, still running (its lease check passes: a stale view).
        assert await old.complete(old.begin("6")) is False
        assert old.fenced
        assert await old.complete(old.begin("7")) is False

        checkpoint = await stored(store)
        assert (checkpoint.position, checkpoint.owner) == ("8", "poller-b")

    run(scenario)


def test_a_failed_write_is_retried() -> None:
    async def scenario(store: FlakyStore) -> None:
        checkpoints = manager(store)
        await checkpoints.claim()
        store.failures = 2

        assert await checkpoints.complete(checkpoints.begin("5")) is True
        assert (await stored(store)).position == "5"

    run(scenario)


def test_a_write_failing_every_attempt_stays_pending_for_the_next_batch() -> None:
    async def scenario(store: FlakyStore) -> None:
        checkpoints = manager(store)
        await checkpoints.claim()
        store.failures = 3

        assert await checkpoints.complete(checkpoints.begin("5")) is False
        assert (await stored(store)).position is None
        assert checkpoints.target == "5"

        assert await checkpoints.finish() is True  # flushes "5", then closes
        checkpoint = await stored(store)
        assert (checkpoint.position, checkpoint.closed) == ("5", True)

    run(scenario)


def test_a_write_that_landed_unacknowledged_is_not_taken_for_a_takeover() -> None:
    async def scenario(store: FlakyStore) -> None:
        checkpoints = manager(store)
        await checkpoints.claim()
        store.lands, store.failures = True, 1

        assert await checkpoints.complete(checkpoints.begin("5")) is True
        assert not checkpoints.fenced
        assert await checkpoints.complete(checkpoints.begin("6")) is True
        assert (await stored(store)).position == "6"

    run(scenario)


def test_concurrent_completions_end_at_the_last_batch() -> None:
    async def scenario(store: FlakyStore) -> None:
        checkpoints = manager(store)
        await checkpoints.claim()
        tickets = [checkpoints.begin(str(n)) for n in range(1, 21)]

        outcomes = await asyncio.gather(*(checkpoints.complete(t) for t in reversed(tickets)))

        assert all(outcomes) and not checkpoints.fenced
        assert (await stored(store)).position == "20"

    run(scenario)


def test_finish_closes_the_shard_only_once_every_batch_is_done() -> None:
    async def scenario(store: FlakyStore) -> None:
        checkpoints = manager(store)
        await checkpoints.claim()
        ticket = checkpoints.begin("40")

        with pytest.raises(RuntimeError):
            await checkpoints.finish()
        assert not (await stored(store)).closed

        await checkpoints.complete(ticket)
        assert await checkpoints.finish() is True
        checkpoint = await stored(store)
        assert (checkpoint.position, checkpoint.closed) == ("40", True)
        assert checkpoints.closed

    run(scenario)


def test_finish_without_the_lease_leaves_the_shard_open() -> None:
    async def scenario(store: FlakyStore) -> None:
        held = True
        checkpoints = manager(store, holds=lambda: held)
        await checkpoints.claim()
        await checkpoints.complete(checkpoints.begin("3"))
        held = False

        assert await checkpoints.finish() is False
        assert not (await stored(store)).closed

    run(scenario)


def test_writes_need_a_claim_first() -> None:
    async def scenario(store: FlakyStore) -> None:
        checkpoints = manager(store)
        with pytest.raises(RuntimeError):
            await checkpoints.complete(checkpoints.begin("1"))

    run(scenario)


def test_an_unknown_ticket_is_an_error() -> None:
    async def scenario(store: FlakyStore) -> None:
        checkpoints = manager(store)
        await checkpoints.claim()
        done = checkpoints.begin("1")
        await checkpoints.complete(done)
        with pytest.raises(KeyError):
            await checkpoints.complete(done)

    run(scenario)
