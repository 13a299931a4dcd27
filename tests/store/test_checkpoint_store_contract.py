"""The ``CheckpointStore`` contract, held against every adapter."""

from __future__ import annotations

import asyncio

import pytest

from roost.store.errors import ConditionFailed, StoreUnavailable
from roost.store.ports import CheckpointStore, ShardCheckpoint
from tests.fixtures.stores import RunWithCheckpointStore

M = "mapping-1"
SHARD = "shardId-000000000000"
# An AWS-sized Kinesis sequence number, and moto's short ones.
AWS_SEQUENCE = "49590338271490256608559692538361571095921575989136588898"


def test_a_shard_without_a_checkpoint_reads_as_none(
    run_with_checkpoint_store: RunWithCheckpointStore,
) -> None:
    async def scenario(store: CheckpointStore) -> None:
        assert await store.get(M, SHARD) is None
        assert await store.list(M) == []

    run_with_checkpoint_store(scenario)


def test_claim_creates_a_checkpoint_without_a_position(
    run_with_checkpoint_store: RunWithCheckpointStore,
) -> None:
    async def scenario(store: CheckpointStore) -> None:
        claimed = await store.claim(M, SHARD, "poller-a")

        assert claimed == ShardCheckpoint(M, SHARD, None, False, "poller-a", claimed.revision)
        assert claimed.revision
        assert await store.get(M, SHARD) == claimed

    run_with_checkpoint_store(scenario)


def test_advance_moves_the_position_and_the_revision(
    run_with_checkpoint_store: RunWithCheckpointStore,
) -> None:
    async def scenario(store: CheckpointStore) -> None:
        claimed = await store.claim(M, SHARD, "poller-a")

        first = await store.advance(M, SHARD, "9", expected_revision=claimed.revision)
        second = await store.advance(M, SHARD, "10", expected_revision=first)

        got = await store.get(M, SHARD)
        assert got is not None
        assert (got.position, got.revision, got.owner) == ("10", second, "poller-a")
        assert len({claimed.revision, first, second}) == 3

    run_with_checkpoint_store(scenario)


def test_positions_are_opaque_text(run_with_checkpoint_store: RunWithCheckpointStore) -> None:
    async def scenario(store: CheckpointStore) -> None:
        # Leading zeros, 56 digits (more than any integer column holds) and a
        # Kafka offset all come back exactly as written.
        for shard, position in (("a", "000123"), ("b", AWS_SEQUENCE), ("c", "0")):
            claimed = await store.claim(M, shard, "p")
            await store.advance(M, shard, position, expected_revision=claimed.revision)
            got = await store.get(M, shard)
            assert got is not None and got.position == position

    run_with_checkpoint_store(scenario)


def test_a_stale_revision_cannot_advance(run_with_checkpoint_store: RunWithCheckpointStore) -> None:
    async def scenario(store: CheckpointStore) -> None:
        claimed = await store.claim(M, SHARD, "poller-a")
        current = await store.advance(M, SHARD, "5", expected_revision=claimed.revision)

        with pytest.raises(ConditionFailed) as failed:
            await store.advance(M, SHARD, "6", expected_revision=claimed.revision)

        assert failed.value.key == f"{M}/{SHARD}"
        got = await store.get(M, SHARD)
        assert got is not None and (got.position, got.revision) == ("5", current)

    run_with_checkpoint_store(scenario)


def test_a_claim_fences_the_previous_owner(
    run_with_checkpoint_store: RunWithCheckpointStore,
) -> None:
    async def scenario(store: CheckpointStore) -> None:
        old = await store.claim(M, SHARD, "poller-a")
        old_revision = await store.advance(M, SHARD, "5", expected_revision=old.revision)

        new = await store.claim(M, SHARD, "poller-b")

        # The new owner resumes where the old one stopped ...
        assert (new.position, new.owner) == ("5", "poller-b")
        # ... and the old one, still running, can no longer move it.
        with pytest.raises(ConditionFailed):
            await store.advance(M, SHARD, "6", expected_revision=old_revision)
        await store.advance(M, SHARD, "6", expected_revision=new.revision)

    run_with_checkpoint_store(scenario)


def test_advance_of_a_missing_checkpoint_fails(
    run_with_checkpoint_store: RunWithCheckpointStore,
) -> None:
    async def scenario(store: CheckpointStore) -> None:
        with pytest.raises(ConditionFailed):
            await store.advance(M, SHARD, "1", expected_revision="whatever")
        with pytest.raises(ConditionFailed):
            await store.mark_closed(M, SHARD, expected_revision="whatever")
        assert await store.get(M, SHARD) is None

    run_with_checkpoint_store(scenario)


def test_mark_closed_keeps_the_position_and_stops_advances(
    run_with_checkpoint_store: RunWithCheckpointStore,
) -> None:
    async def scenario(store: CheckpointStore) -> None:
        claimed = await store.claim(M, SHARD, "p")
        advanced = await store.advance(M, SHARD, "7", expected_revision=claimed.revision)

        with pytest.raises(ConditionFailed):
            await store.mark_closed(M, SHARD, expected_revision=claimed.revision)
        closed = await store.mark_closed(M, SHARD, expected_revision=advanced)

        got = await store.get(M, SHARD)
        assert got is not None and (got.position, got.closed, got.revision) == ("7", True, closed)
        with pytest.raises(ConditionFailed):
            await store.advance(M, SHARD, "8", expected_revision=closed)
        # Closing again at the current revision is harmless.
        again = await store.mark_closed(M, SHARD, expected_revision=closed)
        got = await store.get(M, SHARD)
        assert got is not None and got.closed and got.position == "7" and got.revision == again

    run_with_checkpoint_store(scenario)


def test_a_claim_keeps_a_closed_shard_closed(
    run_with_checkpoint_store: RunWithCheckpointStore,
) -> None:
    async def scenario(store: CheckpointStore) -> None:
        claimed = await store.claim(M, SHARD, "p")
        await store.mark_closed(M, SHARD, expected_revision=claimed.revision)

        again = await store.claim(M, SHARD, "q")

        assert again.closed and again.position is None and again.owner == "q"

    run_with_checkpoint_store(scenario)


def test_list_returns_every_shard_of_one_mapping_in_shard_order(
    run_with_checkpoint_store: RunWithCheckpointStore,
) -> None:
    async def scenario(store: CheckpointStore) -> None:
        for shard in ("shardId-2", "shardId-0", "shardId-1"):
            await store.claim(M, shard, "p")
        await store.claim("mapping-2", "shardId-0", "p")
        parent = await store.get(M, "shardId-0")
        assert parent is not None
        await store.mark_closed(M, "shardId-0", expected_revision=parent.revision)

        listed = await store.list(M)

        assert [c.shard_id for c in listed] == ["shardId-0", "shardId-1", "shardId-2"]
        assert [c.closed for c in listed] == [True, False, False]
        assert all(c.mapping_uuid == M for c in listed)

    run_with_checkpoint_store(scenario)


def test_delete_mapping_removes_only_its_checkpoints(
    run_with_checkpoint_store: RunWithCheckpointStore,
) -> None:
    async def scenario(store: CheckpointStore) -> None:
        await store.claim(M, "a", "p")
        await store.claim(M, "b", "p")
        await store.claim("mapping-2", "a", "p")

        assert await store.delete_mapping(M) == 2
        assert await store.delete_mapping(M) == 0  # idempotent

        assert await store.list(M) == []
        assert [c.shard_id for c in await store.list("mapping-2")] == ["a"]
        # A mapping's old owner cannot write into a checkpoint created anew.
        fresh = await store.claim(M, "a", "p")
        assert fresh.position is None

    run_with_checkpoint_store(scenario)


def test_racing_advances_at_one_revision_one_wins(
    run_with_checkpoint_store: RunWithCheckpointStore,
) -> None:
    async def scenario(store: CheckpointStore) -> None:
        claimed = await store.claim(M, SHARD, "p")

        outcomes = await asyncio.gather(
            *(
                store.advance(M, SHARD, str(n), expected_revision=claimed.revision)
                for n in range(8)
            ),
            return_exceptions=True,
        )

        winners = [o for o in outcomes if isinstance(o, str)]
        assert len(winners) == 1
        assert all(isinstance(o, str | ConditionFailed) for o in outcomes)
        got = await store.get(M, SHARD)
        assert got is not None and got.revision == winners[0]

    run_with_checkpoint_store(scenario)


def test_closed_store_is_unavailable(run_with_checkpoint_store: RunWithCheckpointStore) -> None:
    async def scenario(store: CheckpointStore) -> None:
        await store.close()
        with pytest.raises(StoreUnavailable):
            await store.get(M, SHARD)
        with pytest.raises(StoreUnavailable):
            await store.claim(M, SHARD, "p")

    run_with_checkpoint_store(scenario)
