"""A shard whose worker fails unexpectedly (a bug) goes on being processed, and a
dead worker does not keep its lease alive."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from roost.esm.health import PollerHealth
from roost.esm.mapping import EventSourceMapping
from roost.esm.shards import Shard
from roost.esm.stream.batch_retry import GiveUp
from roost.esm.stream.runner import StreamDeps, StreamMappingRunner
from roost.esm.stream.shard_catalog import shard_resource
from roost.esm.stream.shard_worker import WORKER_LOOP_KIND
from roost.esm.stream.source import StreamSource
from roost.loop_guard import FAILURES
from roost.store.memory.checkpoints import MemoryCheckpointStore
from tests.esm.stream.support import (
    MemoryStream,
    RecordingFailures,
    data_of,
    eventually,
    memory_source,
    orchestrator,
    scenario,
    stream_mapping,
)
from tests.esm.stream.test_runner import FAST, SHARD0, Harness, put_all, recording

SHARD1 = "shardId-000000000001"


class BuggyFailures(RecordingFailures):
    """An ``OnFailure`` sink with a bug: it raises for the first ``bugs`` records given up
    (of ``shard``, or of any shard)."""

    def __init__(self, bugs: int, shard: str | None = None) -> None:
        super().__init__()
        self.bugs = bugs
        self.shard = shard

    async def give_up(
        self, mapping: EventSourceMapping, source: StreamSource, shard: Shard, give_up: GiveUp
    ) -> bool:
        if self.bugs and self.shard in (None, shard.shard_id):
            self.bugs -= 1
            raise RuntimeError("bug in the failure destination")
        return await super().give_up(mapping, source, shard, give_up)


@scenario
async def test_a_shard_whose_lane_fails_unexpectedly_is_started_again_from_its_checkpoint() -> None:
    # Given a poison record whose trip to OnFailure hits a bug the first time
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    h.failures = BuggyFailures(bugs=1)
    last = put_all(h.stream, ["bad", "good"])
    mapping = stream_mapping(batch_size=1, maximum_retry_attempts=0)

    before = FAILURES.by_kind().get(WORKER_LOOP_KIND, 0)

    # When the shard runs
    async with h.running(mapping, recording(h, lambda d: "bad" in d)):
        # Then the shard goes on: the poison record reaches OnFailure after all,
        # the record after it runs, and the checkpoint follows
        await eventually(lambda: h.processed == ["good"])
        deadline = time.monotonic() + 2
        while await h.position() != last and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert await h.position() == last
    ((_, give_up),) = h.failures.given_up
    assert data_of({"Records": [r.event_record for r in give_up.records]}) == ["bad"]
    # The failed worker is counted where /metrics reads it (roost_loop_failures_total).
    assert FAILURES.by_kind()[WORKER_LOOP_KIND] == before + 1


@scenario
async def test_a_shard_whose_worker_died_gets_no_progress_reports() -> None:
    # Given two shards held by one poller, the second one's OnFailure broken for
    # good, and shards listed too rarely to replace a worker during the test
    stream = MemoryStream(shards=2)
    stream.put(SHARD1, "k", "bad")
    reports: list[str] = []
    failures = BuggyFailures(bugs=1_000, shard=SHARD1)
    h = Harness(stream, MemoryCheckpointStore())
    deps = StreamDeps(
        orchestrator=orchestrator(recording(h, lambda d: "bad" in d)),
        checkpoints=h.checkpoints,
        failures=failures,
        poller_health=PollerHealth(),
        progress=reports.append,
        holds=lambda resource: True,
        owner="p1",
        settings=dataclasses.replace(FAST, shard_refresh_s=60.0),
    )
    mapping = stream_mapping(batch_size=1, maximum_retry_attempts=0)
    runner = StreamMappingRunner(mapping, memory_source(stream), deps, assigned=set())
    await runner.start()
    try:
        await runner.assign(SHARD0)
        await runner.assign(SHARD1)

        # When the second shard's worker dies
        await eventually(lambda: failures.bugs < 1_000)
        await asyncio.sleep(0.05)
        reports.clear()
        await asyncio.sleep(0.3)

        # Then the first shard reports progress as it reads, the dead one none
        assert shard_resource("m1", SHARD0) in reports
        assert shard_resource("m1", SHARD1) not in reports
    finally:
        await runner.stop(grace_s=1.0)


class Captured(logging.Handler):
    """The records logged under ``roost.esm.stream`` while installed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@scenario
async def test_a_bug_that_fails_every_restarted_worker_logs_its_traceback_once() -> None:
    # Given a shard whose OnFailure is broken for good: each worker started for it
    # fails on the same poison record
    stream = MemoryStream()
    stream.put(SHARD0, "k", "bad")
    h = Harness(stream, MemoryCheckpointStore())
    failures = BuggyFailures(bugs=1_000)
    h.failures = failures
    captured = Captured()
    logger = logging.getLogger("roost.esm.stream")
    logger.addHandler(captured)
    before = FAILURES.by_kind().get(WORKER_LOOP_KIND, 0)
    try:
        # When the runner replaces the failed worker again and again
        mapping = stream_mapping(batch_size=1, maximum_retry_attempts=0)
        async with h.running(mapping, recording(h, lambda d: "bad" in d)):
            await eventually(lambda: failures.bugs <= 1_000 - 3)
    finally:
        logger.removeHandler(captured)

    # Then the traceback is logged once and each repeat is one line, all counted
    failed = [r for r in captured.records if "shard " + SHARD0 in r.getMessage()]
    with_traceback = [r for r in failed if r.exc_info]
    assert len(with_traceback) == 1
    assert "bug in the failure destination" in logging.Formatter().format(with_traceback[0])
    repeats = [r for r in failed if not r.exc_info]
    assert len(repeats) >= 2
    assert all("failed again" in r.getMessage() for r in repeats)
    assert FAILURES.by_kind()[WORKER_LOOP_KIND] >= before + 3
