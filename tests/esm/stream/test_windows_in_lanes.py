"""Tumbling windows as a running stream mapping applies them: state carried, final invokes."""

from __future__ import annotations

import time
from typing import Any

from roost.store.memory.checkpoints import MemoryCheckpointStore
from tests.esm.stream.support import (
    MemoryStream,
    ScriptedFunction,
    data_of,
    eventually,
    scenario,
    stream_mapping,
)
from tests.esm.stream.test_runner import SHARD0, Harness, nested_too_deep

WINDOW_S = 10


def summing(calls: list[dict[str, Any]], answer_state: bool = True) -> ScriptedFunction:
    async def handler(event: dict[str, Any]) -> Any:
        calls.append(event)
        total = event["state"].get("sum", 0) + sum(int(d) for d in data_of(event))
        return {"state": {"sum": total}} if answer_state else {}

    return ScriptedFunction(handler)


def window_start(now: float, windows_ago: int) -> float:
    return (int(now) // WINDOW_S - windows_ago) * WINDOW_S


@scenario
async def test_state_is_carried_across_invokes_of_a_window_and_a_final_invoke_closes_it() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    start = window_start(time.time(), 5)
    for i in range(1, 7):
        h.stream.put(SHARD0, "k", str(i), arrival_s=start + i)
    calls: list[dict[str, Any]] = []
    mapping = stream_mapping(batch_size=2, tumbling_window_s=WINDOW_S)
    async with h.running(mapping, summing(calls)):
        await eventually(lambda: any(c["isFinalInvokeForWindow"] for c in calls))
    aggregations = [c for c in calls if not c["isFinalInvokeForWindow"]]
    assert [c["state"] for c in aggregations] == [{}, {"sum": 3}, {"sum": 10}]
    final = calls[-1]
    assert final["isFinalInvokeForWindow"] is True
    assert final["isWindowTerminatedEarly"] is False
    assert final["state"] == {"sum": 21}
    assert final["Records"] == []
    assert final["shardId"] == SHARD0
    assert final["window"]["end"] > final["window"]["start"]
    assert final["eventSourceARN"].startswith("arn:aws:kinesis:")


@scenario
async def test_a_later_window_starts_only_after_the_earlier_one_was_finalized() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    now = time.time()
    h.stream.put(SHARD0, "k", "1", arrival_s=window_start(now, 5) + 1)
    h.stream.put(SHARD0, "k", "2", arrival_s=window_start(now, 4) + 1)
    calls: list[dict[str, Any]] = []
    async with h.running(stream_mapping(tumbling_window_s=WINDOW_S), summing(calls)):
        await eventually(lambda: sum(c["isFinalInvokeForWindow"] for c in calls) == 2)
    shape = [(data_of(c), c["isFinalInvokeForWindow"], c["state"]) for c in calls]
    assert shape == [
        (["1"], False, {}),
        ([], True, {"sum": 1}),
        (["2"], False, {}),
        ([], True, {"sum": 2}),
    ]


@scenario
async def test_an_answer_without_state_is_a_failed_invoke_and_is_retried() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    h.stream.put(SHARD0, "k", "5", arrival_s=window_start(time.time(), 5) + 1)
    calls: list[dict[str, Any]] = []
    function = summing(calls, answer_state=False)
    async with h.running(stream_mapping(tumbling_window_s=WINDOW_S), function):
        await eventually(lambda: len(calls) >= 2)
        assert all(not c["isFinalInvokeForWindow"] for c in calls)
        assert await h.position() is None


@scenario
async def test_an_answer_nested_too_deep_is_a_failed_invoke_and_is_retried() -> None:
    h = Harness(MemoryStream(), MemoryCheckpointStore())
    h.stream.put(SHARD0, "k", "5", arrival_s=window_start(time.time(), 5) + 1)
    calls: list[dict[str, Any]] = []

    async def handler(event: dict[str, Any]) -> Any:
        calls.append(event)
        if len(calls) == 1:
            return nested_too_deep()
        return {"state": {"sum": sum(int(d) for d in data_of(event))}}

    async with h.running(stream_mapping(tumbling_window_s=WINDOW_S), ScriptedFunction(handler)):
        await eventually(lambda: any(c["isFinalInvokeForWindow"] for c in calls))
    shape = [(data_of(c), c["isFinalInvokeForWindow"], c["state"]) for c in calls]
    assert shape == [(["5"], False, {}), (["5"], False, {}), ([], True, {"sum": 5})]
