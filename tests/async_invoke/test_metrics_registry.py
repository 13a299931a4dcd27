"""The async plane's counters: the registry itself, and what pollers count in it."""

from __future__ import annotations

import asyncio

from roost.async_invoke.assignment import StaticAssignment
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import AsyncEvent, encode
from roost.async_invoke.metrics import (
    AsyncMetrics,
    DropReason,
    FunctionFigures,
    FunctionKey,
    RetryReason,
)
from roost.async_invoke.poller import AsyncPoller
from roost.async_invoke.poller_deps import PollerDeps, PollerSettings
from roost.async_invoke.retry import Condition, FailureKind, RetryLimits, RetryPolicy
from roost.store.memory import MemoryQueueStore
from tests.async_invoke.test_poller import (
    QUEUE,
    FixedLimits,
    RecordingSink,
    ScriptedInvoker,
    Step,
    boom,
    event,
    gone,
    ok,
    throttled,
)

ACCOUNT = "000000000000"


def test_an_event_accepted_then_succeeded_leaves_nothing_queued_or_in_flight() -> None:
    metrics = AsyncMetrics()

    metrics.accepted(ACCOUNT, "fn", "async-001")
    queued = metrics.function(ACCOUNT, "fn")
    metrics.started(ACCOUNT, "fn", age_s=0.25)
    running = metrics.function(ACCOUNT, "fn")
    metrics.ended(ACCOUNT, "fn")
    metrics.succeeded(ACCOUNT, "fn")

    assert queued is not None and (queued.queued, queued.in_flight) == (1, 0)
    assert running is not None and (running.queued, running.in_flight) == (1, 1)
    assert metrics.function(ACCOUNT, "fn") == FunctionFigures(
        accepted=1, started=1, succeeded=1, start_age_sum_s=0.25, last_start_age_s=0.25
    )
    assert metrics.sent_by_queue() == {"async-001": 1}


def test_retries_and_drops_are_counted_by_reason_per_function() -> None:
    metrics = AsyncMetrics()
    for _ in range(2):
        metrics.accepted(ACCOUNT, "a", "q")
    metrics.accepted("111111111111", "a", "q")
    metrics.retried(ACCOUNT, "a", RetryReason.FUNCTION_ERROR)
    metrics.retried(ACCOUNT, "a", RetryReason.FUNCTION_ERROR)
    metrics.retried(ACCOUNT, "a", RetryReason.THROTTLE)
    metrics.dropped(ACCOUNT, "a", DropReason.RETRIES_EXHAUSTED)

    functions = metrics.functions()

    assert list(functions) == [FunctionKey(ACCOUNT, "a"), FunctionKey("111111111111", "a")]
    mine = functions[FunctionKey(ACCOUNT, "a")]
    assert mine.retried == {RetryReason.FUNCTION_ERROR: 2, RetryReason.THROTTLE: 1}
    assert mine.dropped == {DropReason.RETRIES_EXHAUSTED: 1}
    assert mine.queued == 1
    assert functions[FunctionKey("111111111111", "a")].queued == 1


def test_a_snapshot_does_not_change_with_later_updates() -> None:
    metrics = AsyncMetrics()
    metrics.retried(ACCOUNT, "fn", RetryReason.SYSTEM)
    snapshot = metrics.function(ACCOUNT, "fn")

    metrics.retried(ACCOUNT, "fn", RetryReason.SYSTEM)

    assert snapshot is not None and snapshot.retried == {RetryReason.SYSTEM: 1}
    assert metrics.function("nobody", "fn") is None


def test_events_finished_that_this_node_never_accepted_do_not_go_negative() -> None:
    # After a restart the pollers finish events an earlier run accepted.
    metrics = AsyncMetrics()
    metrics.ended(ACCOUNT, "fn")
    metrics.succeeded(ACCOUNT, "fn")

    figures = metrics.function(ACCOUNT, "fn")

    assert figures is not None and (figures.queued, figures.in_flight) == (0, 0)


def test_reasons_map_from_the_plane_s_failures_and_conditions() -> None:
    assert RetryReason.of(FailureKind.FUNCTION_ERROR) is RetryReason.FUNCTION_ERROR
    assert RetryReason.of(FailureKind.THROTTLED) is RetryReason.THROTTLE
    assert RetryReason.of(FailureKind.SYSTEM_ERROR) is RetryReason.SYSTEM
    assert DropReason.of(Condition.RETRIES_EXHAUSTED) is DropReason.RETRIES_EXHAUSTED
    assert DropReason.of(Condition.EVENT_AGE_EXCEEDED) is DropReason.EVENT_AGE_EXCEEDED


async def _poll_one(steps: list[Step], limits: RetryLimits, queued: AsyncEvent) -> AsyncMetrics:
    """Run one queued event through a poller until its queue is empty; the counters."""
    store = MemoryQueueStore()
    metrics = AsyncMetrics()
    deps = PollerDeps(
        queues=store,
        assignment=StaticAssignment([QUEUE], ["p0"]),
        invoker=ScriptedInvoker(steps),
        limits=FixedLimits(limits),
        policy=RetryPolicy(scale=0.001),
        sink=RecordingSink(),
        gauge=DepthGauge(store, [QUEUE]),
        metrics=metrics,
    )
    poller = AsyncPoller("p0", deps, PollerSettings(visibility_timeout_s=5, wait_s=0.2))
    await store.send(QUEUE, encode(queued))
    poller.start()
    try:
        async with asyncio.timeout(10):
            while await store.queues():
                await asyncio.sleep(0.02)
    finally:
        await poller.stop(grace_s=1)
    return metrics


def _figures(steps: list[Step], limits: RetryLimits, queued: AsyncEvent) -> FunctionFigures:
    figures = asyncio.run(_poll_one(steps, limits, queued)).function(ACCOUNT, "fn")
    assert figures is not None
    return figures


def test_a_poller_counts_attempts_retries_and_the_success() -> None:
    figures = _figures([throttled, boom, ok], RetryLimits(maximum_retry_attempts=2), event())

    assert figures.started == 3
    assert figures.retried == {RetryReason.THROTTLE: 1, RetryReason.FUNCTION_ERROR: 1}
    assert figures.succeeded == 1
    assert figures.dropped == {}
    assert figures.in_flight == 0
    assert 0 <= figures.last_start_age_s < 5


def test_a_poller_counts_drops_with_their_reason() -> None:
    exhausted = _figures([boom], RetryLimits(maximum_retry_attempts=0), event())
    too_old = _figures([ok], RetryLimits(maximum_event_age_s=60), event(age_s=61))
    deleted = _figures([gone], RetryLimits(), event())

    assert exhausted.dropped == {DropReason.RETRIES_EXHAUSTED: 1}
    assert exhausted.retried == {}
    assert (too_old.dropped, too_old.started) == ({DropReason.EVENT_AGE_EXCEEDED: 1}, 0)
    assert deleted.dropped == {DropReason.FUNCTION_DELETED: 1}
