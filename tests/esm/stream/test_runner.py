"""The stream mapping runner over an in-memory stream: order, parallelism, errors, resharding."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from roost.esm.health import PollerHealth
from roost.esm.mapping import EventSourceMapping
from roost.esm.stream.failure_record import StreamFailureCondition
from roost.esm.stream.runner import StreamDeps, StreamMappingRunner, StreamSettings
from roost.esm.stream.shard_worker import ShardWorkerSettings
from roost.store.memory.checkpoints import MemoryCheckpointStore
from roost.store.ports import CheckpointStore
from tests.esm.stream.support import (
    Failed,
    MemoryStream,
    RecordingFailures,
    ScriptedFunction,
    Throttled,
    data_of,
    eventually,
    memory_source,
    merge,
    orchestrator,
    scenario,
    stream_mapping,
)

SHARD0 = "shardId-000000000000"
FAST = StreamSettings(
    shard_refresh_s=0.05,
    give_up_retry_s=0.01,
    worker=ShardWorkerSettings(min_poll_interval_s=0.005, checkpoint_retry_s=0.01),
)


class Harness:
    def __init__(self, stream: MemoryStream, checkpoints: CheckpointStore) -> None:
        self.stream = stream
        self.checkpoints = checkpoints
        self.failures = RecordingFailures()
        self.processed: list[str] = []

    def deps(self, function: ScriptedFunction, owner: str = "p1") -> StreamDeps:
        return StreamDeps(
            orchestrator=orchestrator(function),
            checkpoints=self.checkpoints,
            failures=self.failures,
            poller_health=PollerHealth(),
            progress=lambda uuid: None,
            holds=lambda uuid: True,
            owner=owner,
            settings=FAST,
        )

    @asynccontextmanager
    async def running(
        self, mapping: EventSourceMapping, function: ScriptedFunction, owner: str = "p1"
    ) -> AsyncIterator[StreamMappingRunner]:
        runner = StreamMappingRunner(
            mapping, memory_source(self.stream), self.deps(function, owner)
        )
        await runner.start()
        try:
            yield runner
        finally:
            await runner.stop(grace_s=1.0)

    async def position(self, shard_id: str = SHARD0) -> str | None:
        checkpoint = await self.checkpoints.get("m1", shard_id)
        return checkpoint.position if checkpoint else None


def recording(
    h: Harness, fail_if: Callable[[list[str]], bool] = lambda d: False
) -> ScriptedFunction:
    async def handler(event: dict[str, Any]) -> Any:
        data = data_of(event)
        if fail_if(data):
            raise Failed(",".join(data))
        h.processed.extend(data)
        return None

    return ScriptedFunction(handler)


def put_all(stream: MemoryStream, items: list[str], key: str = "k", shard: str = SHARD0) -> str:
    last = ""
    for item in items:
        last = stream.put(shard, key, item)
    return last


@scenario
async def test_records_of_a_shard_run_in_order_and_the_checkpoint_follows() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    last = put_all(h.stream, [str(i) for i in range(25)])
    async with h.running(stream_mapping(batch_size=10), recording(h)):
        await eventually(lambda: len(h.processed) == 25)
        assert h.processed == [str(i) for i in range(25)]
        deadline = time.monotonic() + 2
        while await h.position() != last and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert await h.position() == last


@scenario
async def test_parallelization_factor_runs_keys_at_once_and_keeps_order_per_key() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    running = 0
    peak = 0
    per_key: dict[str, list[int]] = {}

    async def handler(event: dict[str, Any]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        for record in event["Records"]:
            key = record["kinesis"]["partitionKey"]
            per_key.setdefault(key, []).append(int(data_of({"Records": [record]})[0]))
        running -= 1

    for i in range(80):
        h.stream.put(SHARD0, f"key-{i % 8}", str(i))
    mapping = stream_mapping(batch_size=5, parallelization_factor=4)
    async with h.running(mapping, ScriptedFunction(handler)):
        await eventually(lambda: sum(len(v) for v in per_key.values()) == 80)
    assert peak > 1
    for key, numbers in per_key.items():
        assert numbers == sorted(numbers), key
    assert sorted(n for v in per_key.values() for n in v) == list(range(80))


@scenario
async def test_bisect_isolates_the_poison_record_and_runs_the_rest_once_in_order() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, [f"r{i}" for i in range(1, 9)])
    mapping = stream_mapping(
        batch_size=8, bisect_batch_on_function_error=True, maximum_retry_attempts=0
    )
    async with h.running(mapping, recording(h, lambda d: "r3" in d)):
        await eventually(lambda: len(h.processed) == 7 and len(h.failures.given_up) == 1)
    assert h.processed == ["r1", "r2", "r4", "r5", "r6", "r7", "r8"]
    shard_id, give_up = h.failures.given_up[0]
    assert shard_id == SHARD0
    assert data_of({"Records": [r.event_record for r in give_up.records]}) == ["r3"]
    assert give_up.condition is StreamFailureCondition.RETRY_ATTEMPTS_EXHAUSTED


@scenario
async def test_a_failing_batch_blocks_its_shard_for_its_retries_then_goes_to_on_failure() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, ["bad", "good"])
    function = recording(h, lambda d: "bad" in d)
    mapping = stream_mapping(batch_size=1, maximum_retry_attempts=2)
    async with h.running(mapping, function):
        await eventually(lambda: h.processed == ["good"])
    bad_invokes = [e for e in function.events if data_of(e) == ["bad"]]
    assert len(bad_invokes) == 3  # the first try and 2 retries
    assert function.events.index(bad_invokes[-1]) < len(function.events) - 1  # "good" waited
    ((_, give_up),) = h.failures.given_up
    assert give_up.invokes == 3


@scenario
async def test_throttles_are_retried_without_counting_as_retries() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, ["a"])
    throttles = 3

    async def handler(event: dict[str, Any]) -> None:
        nonlocal throttles
        if throttles:
            throttles -= 1
            raise Throttled("Rate Exceeded.")
        h.processed.extend(data_of(event))

    mapping = stream_mapping(maximum_retry_attempts=0)
    async with h.running(mapping, ScriptedFunction(handler)):
        await eventually(lambda: h.processed == ["a"])
    assert h.failures.given_up == []


@scenario
async def test_records_older_than_the_maximum_age_are_given_up_without_an_invoke() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    h.stream.put(SHARD0, "k", "old", arrival_s=time.time() - 120)
    h.stream.put(SHARD0, "k", "new")
    function = recording(h)
    async with h.running(stream_mapping(maximum_record_age_s=60), function):
        await eventually(lambda: h.processed == ["new"] and len(h.failures.given_up) == 1)
    ((_, give_up),) = h.failures.given_up
    assert give_up.condition is StreamFailureCondition.RECORD_AGE_EXCEEDED
    assert all("old" not in data_of(e) for e in function.events)


@scenario
async def test_a_batch_retried_without_limits_is_given_up_when_the_stream_drops_it() -> None:
    # MaximumRetryAttempts and MaximumRecordAgeInSeconds -1: retried until the
    # records expire, which is when the stream no longer keeps them (AWS).
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    h.stream.retention = 3600.0
    h.stream.put(SHARD0, "k", "poison", arrival_s=time.time() - 3600 + 0.3)
    h.stream.put(SHARD0, "k", "next")
    function = recording(h, lambda d: "poison" in d)
    async with h.running(stream_mapping(batch_size=1), function):
        await eventually(lambda: h.processed == ["next"])
    ((_, give_up),) = h.failures.given_up
    assert give_up.condition is StreamFailureCondition.RECORD_AGE_EXCEEDED
    assert give_up.invokes >= 1


@scenario
async def test_a_retention_changed_while_the_mapping_runs_bounds_its_retries() -> None:
    # Given a poison record retried while the stream's retention is unknown
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    h.stream.put(SHARD0, "k", "poison", arrival_s=time.time() - 7200)
    h.stream.put(SHARD0, "k", "next")
    function = recording(h, lambda d: "poison" in d)
    async with h.running(stream_mapping(batch_size=1), function):
        await eventually(lambda: len(function.events) >= 3)
        assert h.failures.given_up == []
        # When the stream turns out to keep records for an hour only
        h.stream.retention = 3600.0
        # Then the poison record is given up as too old and the shard moves on
        await eventually(lambda: h.processed == ["next"])
    ((_, give_up),) = h.failures.given_up
    assert give_up.condition is StreamFailureCondition.RECORD_AGE_EXCEEDED


@scenario
async def test_partial_batch_response_restarts_from_the_lowest_failed_record() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    numbers = {put_all(h.stream, [f"r{i}"]): f"r{i}" for i in range(1, 6)}
    by_data = {v: k for k, v in numbers.items()}
    failed_once = False

    async def handler(event: dict[str, Any]) -> Any:
        nonlocal failed_once
        data = data_of(event)
        if not failed_once and "r3" in data:
            failed_once = True
            h.processed.extend(data[:2])
            return {
                "batchItemFailures": [
                    {"itemIdentifier": by_data["r4"]},
                    {"itemIdentifier": by_data["r3"]},
                ]
            }
        h.processed.extend(data)
        return {"batchItemFailures": []}

    function = ScriptedFunction(handler)
    mapping = stream_mapping(function_response_types=("ReportBatchItemFailures",))
    async with h.running(mapping, function):
        await eventually(lambda: len(h.processed) == 5)
    assert h.processed == ["r1", "r2", "r3", "r4", "r5"]
    assert data_of(function.events[1]) == ["r3", "r4", "r5"]


@scenario
async def test_filtered_out_records_move_the_checkpoint_without_an_invoke() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    last = put_all(h.stream, ["skip-1", "skip-2"])
    function = recording(h)
    mapping = stream_mapping(
        filter_criteria={"Filters": [{"Pattern": '{"partitionKey": ["nope"]}'}]}
    )
    async with h.running(mapping, function):
        deadline = time.monotonic() + 2
        while await h.position() != last and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    assert await h.position() == last
    assert function.events == []


@scenario
async def test_a_child_shard_starts_after_its_parent_is_finished() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, ["p1", "p2"])
    child = h.stream.split(SHARD0)
    put_all(h.stream, ["c1", "c2"], shard=child)
    async with h.running(stream_mapping(batch_size=1), recording(h)):
        await eventually(lambda: len(h.processed) == 4)
    assert h.processed == ["p1", "p2", "c1", "c2"]
    parent = await h.checkpoints.get("m1", SHARD0)
    assert parent is not None and parent.closed


@scenario
async def test_a_split_while_running_is_discovered_and_order_holds_across_it() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    async with h.running(stream_mapping(batch_size=1), recording(h)):
        put_all(h.stream, ["before"])
        await eventually(lambda: h.processed == ["before"])
        child = h.stream.split(SHARD0)
        put_all(h.stream, ["after"], shard=child)
        await eventually(lambda: h.processed == ["before", "after"])


@scenario
async def test_a_new_owner_resumes_after_the_checkpoint_without_losing_records() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, ["a", "b"])
    async with h.running(stream_mapping(), recording(h), owner="first"):
        await eventually(lambda: h.processed == ["a", "b"])
    while await h.position() is None:
        await asyncio.sleep(0.01)
    put_all(h.stream, ["c"])
    async with h.running(stream_mapping(), recording(h), owner="second"):
        await eventually(lambda: h.processed == ["a", "b", "c"])


@scenario
async def test_latest_skips_what_the_shard_held_when_the_mapping_started() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, ["old"])
    async with h.running(stream_mapping(starting_position="LATEST"), recording(h)):
        put_all(h.stream, ["new"])
        await eventually(lambda: h.processed == ["new"])


@scenario
async def test_a_latest_shard_restarted_before_any_record_was_done_reads_them_again() -> None:
    # Given a LATEST mapping whose function fails every record it was given so far
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, ["old"])
    failing = recording(h, lambda data: True)
    async with h.running(stream_mapping(starting_position="LATEST"), failing) as runner:
        put_all(h.stream, ["new-1", "new-2"])
        await eventually(lambda: failing.events != [])
        assert runner.workers

    # When the poller restarts (or the shard moves) before anything was done
    put_all(h.stream, ["newer"])
    async with h.running(stream_mapping(starting_position="LATEST"), recording(h)):
        # Then the records read and not done run, from where reading had begun
        # (not from a LATEST that has moved on), and what came before stays skipped
        await eventually(lambda: h.processed == ["new-1", "new-2", "newer"])


@scenario
async def test_at_timestamp_starts_at_the_first_record_at_or_after_it() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    now = time.time()
    h.stream.put(SHARD0, "k", "early", arrival_s=now - 100)
    h.stream.put(SHARD0, "k", "late", arrival_s=now - 10)
    mapping = stream_mapping(
        starting_position="AT_TIMESTAMP", starting_position_timestamp_s=now - 50
    )
    async with h.running(mapping, recording(h)):
        await eventually(lambda: h.processed == ["late"])


@scenario
async def test_an_unreachable_failure_destination_keeps_the_shard_blocked() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, ["bad", "next"])
    h.failures.reachable = False
    mapping = stream_mapping(batch_size=1, maximum_retry_attempts=0)
    async with h.running(mapping, recording(h, lambda d: "bad" in d)):
        await asyncio.sleep(0.3)
        assert h.processed == []
        assert await h.position() is None
        h.failures.reachable = True
        await eventually(lambda: h.processed == ["next"])


@scenario
async def test_the_last_processing_result_follows_the_batches() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, ["bad"])
    written: list[str] = []

    async def write(uuid: str, result: str) -> None:
        written.append(result)

    deps = dataclasses.replace(h.deps(recording(h, lambda d: "bad" in d)), write_result=write)
    mapping = stream_mapping(batch_size=1, maximum_retry_attempts=0)
    runner = StreamMappingRunner(mapping, memory_source(h.stream), deps)
    await runner.start()
    try:
        await eventually(lambda: written == ["PROBLEM: Function call failed"])
        put_all(h.stream, ["good"])
        await eventually(lambda: written[-1:] == ["OK"])
    finally:
        await runner.stop(grace_s=1.0)


@scenario
async def test_a_merged_shard_starts_after_both_its_parents_are_finished() -> None:
    h = Harness(MemoryStream(shards=2), MemoryCheckpointStore())
    second = "shardId-000000000001"
    put_all(h.stream, ["a1", "a2", "a3"])
    put_all(h.stream, ["b1"], shard=second)
    child = merge(h.stream, SHARD0, second)
    put_all(h.stream, ["c1"], shard=child)
    async with h.running(stream_mapping(batch_size=1), recording(h)):
        await eventually(lambda: len(h.processed) == 5)
    assert h.processed.index("c1") == 4  # after every record of both parents
    assert [d for d in h.processed if d.startswith("a")] == ["a1", "a2", "a3"]


def nested_too_deep(depth: int = 100_000) -> bytes:
    """Valid JSON that no parser built on recursion can read: ``{"a":{"a":...1...}}``."""
    return b'{"a":' * depth + b"1" + b"}" * depth


@scenario
async def test_a_response_nested_too_deep_is_an_invalid_response_and_the_shard_goes_on() -> None:
    # Given a function reporting batch item failures that answers one batch with
    # JSON nested far deeper than any parser goes
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    put_all(h.stream, ["deep"])

    async def handler(event: dict[str, Any]) -> Any:
        data = data_of(event)
        if "deep" in data:
            return nested_too_deep()
        h.processed.extend(data)
        return {"batchItemFailures": []}

    mapping = stream_mapping(
        batch_size=1, maximum_retry_attempts=0, function_response_types=["ReportBatchItemFailures"]
    )
    async with h.running(mapping, ScriptedFunction(handler)):
        # When the shard runs it, and more records come after
        await eventually(lambda: len(h.failures.given_up) == 1)
        last = put_all(h.stream, ["after-1", "after-2"])

        # Then that batch failed as an invalid response does (given up to OnFailure),
        # and the records after it ran and were checkpointed
        await eventually(lambda: h.processed == ["after-1", "after-2"])
        deadline = time.monotonic() + 2
        while await h.position() != last and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert await h.position() == last
    ((_, give_up),) = h.failures.given_up
    assert data_of({"Records": [r.event_record for r in give_up.records]}) == ["deep"]
    assert give_up.condition is StreamFailureCondition.RETRY_ATTEMPTS_EXHAUSTED
