"""A shard whose checkpoint another poller claimed (this one lost its lease while
stalled): its worker stops at once and the shard is left to the new owner."""

from __future__ import annotations

import asyncio
from typing import Any

from roost.esm.health import PollerHealth
from roost.esm.shards import IteratorPosition, IteratorType
from roost.esm.stream.runner import StreamDeps, StreamMappingRunner
from roost.esm.stream.shard_catalog import shard_resource
from roost.store.memory.checkpoints import MemoryCheckpointStore
from roost.store.ports import ShardCheckpoint
from tests.esm.stream.support import (
    MemoryStream,
    ScriptedFunction,
    data_of,
    eventually,
    memory_source,
    orchestrator,
    scenario,
    stream_mapping,
)
from tests.esm.stream.test_runner import FAST, SHARD0, Harness, put_all

RECORDS = [str(i) for i in range(40)]


@scenario
async def test_a_fenced_shard_stops_at_once_and_is_taken_back_only_when_assigned_again() -> None:
    # Given a poller reading a shard one slow record per batch, with more read ahead
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, RECORDS)
    started: list[str] = []

    async def slow(event: dict[str, Any]) -> None:
        started.extend(data_of(event))
        await asyncio.sleep(0.02)
        h.processed.extend(data_of(event))

    reports: list[str] = []
    deps = StreamDeps(
        orchestrator=orchestrator(ScriptedFunction(slow)),
        checkpoints=h.checkpoints,
        failures=h.failures,
        poller_health=PollerHealth(),
        progress=reports.append,
        holds=lambda resource: True,
        owner="p1",
        settings=FAST,
    )
    runner = StreamMappingRunner(
        stream_mapping(batch_size=1), memory_source(h.stream), deps, assigned=set()
    )
    await runner.start()
    try:
        await runner.assign(SHARD0)
        await eventually(lambda: len(h.processed) >= 3)

        # When another poller claims the shard's checkpoint
        await h.checkpoints.claim("m1", SHARD0, "p2")
        worker = runner.workers[SHARD0]
        await eventually(lambda: worker.fenced)
        begun = len(started)
        reports.clear()
        await asyncio.sleep(0.3)

        # Then no batch starts after that (what it had read is the new owner's to
        # replay), the shard gets no progress reports that would keep a lease alive,
        # and the poller does not take the checkpoint back by itself
        assert len(started) == begun
        assert shard_resource("m1", SHARD0) not in reports
        checkpoint = await h.checkpoints.get("m1", SHARD0)
        assert checkpoint is not None and checkpoint.owner == "p2"

        # And once the shard is assigned to it again, a new worker reads it to the end
        await runner.assign(SHARD0)
        await eventually(lambda: set(RECORDS) <= set(h.processed))
        checkpoint = await h.checkpoints.get("m1", SHARD0)
        assert checkpoint is not None and checkpoint.owner == "p1"
    finally:
        await runner.stop(grace_s=1.0)


class RecordsRightAfterLatest(MemoryStream):
    """Records land just after a LATEST iterator is taken (so the first read has them)."""

    async def get_shard_iterator(self, shard_id: str, position: IteratorPosition) -> str:
        iterator = await super().get_shard_iterator(shard_id, position)
        if position.type is IteratorType.LATEST:
            put_all(self, ["x", "y"])
        return iterator


class TakenOverAfterClaim(MemoryCheckpointStore):
    """Another poller claims the checkpoint right after this one did."""

    async def claim(self, mapping_uuid: str, shard_id: str, owner: str) -> ShardCheckpoint:
        claimed = await super().claim(mapping_uuid, shard_id, owner)
        if owner == "p1":
            await super().claim(mapping_uuid, shard_id, "p2")
        return claimed


@scenario
async def test_a_shard_fenced_while_its_worker_starts_invokes_nothing() -> None:
    # Given a LATEST shard whose first read has records, and another poller that
    # claims the checkpoint between this worker's claim and that read
    h = Harness(RecordsRightAfterLatest(), TakenOverAfterClaim())
    started: list[str] = []

    async def record(event: dict[str, Any]) -> None:
        started.extend(data_of(event))

    async with h.running(
        stream_mapping(starting_position="LATEST"), ScriptedFunction(record)
    ) as runner:
        await eventually(lambda: SHARD0 in runner.workers and runner.workers[SHARD0].fenced)
        await asyncio.sleep(0.3)
        # A worker that started no lanes and no read loop stops cleanly all the same
        await runner.workers[SHARD0].stop(grace_s=0.1)

    # Then it invokes none of the records it read: they are the new owner's
    assert started == []
    checkpoint = await h.checkpoints.get("m1", SHARD0)
    assert checkpoint is not None and checkpoint.owner == "p2"
