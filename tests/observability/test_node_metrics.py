"""``NodeMetrics``: the async registry, the queue store and counting as one scrape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from roost.api.errors import TooManyRequestsException
from roost.async_invoke.metrics import AsyncMetrics, DropReason, RetryReason
from roost.flow.counting import CountingService
from roost.observability.node_metrics import AsyncSource, NodeMetrics, SyncSource
from roost.observability.prometheus import Sample, parse
from roost.store.memory import MemoryQueueStore

ACCOUNT = "000000000000"
QUEUES = ("async-000", "async-001")


def _value(samples: Iterable[Sample], name: str, **labels: str) -> float:
    [value] = [s.value for s in samples if s.name == name and dict(s.labels) == labels]
    return value


async def _scrape(store: MemoryQueueStore, metrics: AsyncMetrics, counting: CountingService) -> str:
    sync = SyncSource(counting, lambda: ["ready", "ready", "invoking"])
    return await NodeMetrics(AsyncSource(metrics, store, QUEUES), sync).render()


def test_a_scrape_has_function_queue_and_sync_figures() -> None:
    # Given: two events in a queue, one of them received; counters of a few outcomes
    store = MemoryQueueStore()
    metrics = AsyncMetrics()
    counting = CountingService(account_limit=10)

    async def scenario() -> str:
        for _ in range(2):
            await store.send("async-001", b"{}")
            metrics.accepted(ACCOUNT, "fn", "async-001")
        await store.receive("async-001", visibility_timeout_s=30)
        metrics.started(ACCOUNT, "fn", age_s=0.5)
        metrics.retried(ACCOUNT, "fn", RetryReason.THROTTLE)
        metrics.dropped(ACCOUNT, "fn", DropReason.EVENT_AGE_EXCEEDED)
        counting.acquire(ACCOUNT, "fn", None, 0)
        return await _scrape(store, metrics, counting)

    # When: it is scraped
    text = asyncio.run(scenario())
    samples = parse(text)

    # Then: per function, per queue and sync figures are there
    fn = {"account": ACCOUNT, "function": "fn"}
    assert _value(samples, "roost_async_events_accepted_total", **fn) == 2
    assert _value(samples, "roost_async_events_queued", **fn) == 1
    assert _value(samples, "roost_async_events_in_flight", **fn) == 1
    assert _value(samples, "roost_async_events_retried_total", **fn, reason="throttle") == 1
    assert _value(samples, "roost_async_events_retried_total", **fn, reason="system") == 0
    dropped = "roost_async_events_dropped_total"
    assert _value(samples, dropped, **fn, reason="EventAgeExceeded") == 1
    assert _value(samples, dropped, **fn, reason="FunctionDeleted") == 0
    assert _value(samples, "roost_async_event_age_seconds_sum", **fn) == 0.5
    assert _value(samples, "roost_async_queue_depth", queue="async-001") == 2
    assert _value(samples, "roost_async_queue_in_flight", queue="async-001") == 1
    assert _value(samples, "roost_async_queue_depth", queue="async-000") == 0
    assert _value(samples, "roost_async_queue_oldest_age_seconds", queue="async-001") >= 0
    assert _value(samples, "roost_async_queue_sent_total", queue="async-001") == 2
    assert _value(samples, "roost_async_queue_store_up") == 1
    assert _value(samples, "roost_invocations_total", **fn) == 1
    assert _value(samples, "roost_concurrent_executions", **fn) == 1
    assert _value(samples, "roost_environments", state="ready") == 2
    assert "# TYPE roost_async_events_dropped_total counter" in text
    assert "# HELP roost_async_queue_depth " in text


def test_throttles_are_counted_by_reason() -> None:
    counting = CountingService(account_limit=10)
    lease = counting.acquire(ACCOUNT, "fn", 1, 1)
    for _ in range(2):
        with pytest.raises(TooManyRequestsException):
            counting.acquire(ACCOUNT, "fn", 1, 1)
    counting.release(lease)

    samples = parse(asyncio.run(_scrape(MemoryQueueStore(), AsyncMetrics(), counting)))

    reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
    fn = {"account": ACCOUNT, "function": "fn"}
    assert _value(samples, "roost_throttles_total", **fn, reason=reason) == 2
    assert not [s for s in samples if s.name == "roost_concurrent_executions"]


def test_an_unavailable_queue_store_does_not_fail_the_scrape() -> None:
    store = MemoryQueueStore()
    metrics = AsyncMetrics()
    metrics.accepted(ACCOUNT, "fn", "async-000")

    async def scenario() -> str:
        await store.close()  # every later call raises StoreUnavailable
        return await _scrape(store, metrics, CountingService(10))

    samples = parse(asyncio.run(scenario()))

    assert _value(samples, "roost_async_queue_store_up") == 0
    assert not [s for s in samples if s.name == "roost_async_queue_depth"]
    fn = {"account": ACCOUNT, "function": "fn"}
    assert _value(samples, "roost_async_events_accepted_total", **fn) == 1
