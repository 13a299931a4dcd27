"""``NodeMetrics``: the async registry, the queue store and counting as one scrape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import pytest

from roost.api.errors import TooManyRequestsException
from roost.async_invoke.metrics import AsyncMetrics, DropReason, RetryReason
from roost.flow.counting import CountingService
from roost.observability.node_metrics import AsyncSource, NodeMetrics, SyncSource
from roost.observability.prometheus import Sample, parse
from roost.observability.variance_metrics import VarianceSource
from roost.store.memory import MemoryQueueStore
from roost.store.sqlite.queues import SqliteQueueStore

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
        await counting.acquire(ACCOUNT, "fn", None, 0)
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

    async def scenario() -> str:
        lease = await counting.acquire(ACCOUNT, "fn", 1, 1)
        for _ in range(2):
            with pytest.raises(TooManyRequestsException):
                await counting.acquire(ACCOUNT, "fn", 1, 1)
        await counting.release(lease)
        return await _scrape(MemoryQueueStore(), AsyncMetrics(), counting)

    samples = parse(asyncio.run(scenario()))

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


def test_the_queue_stores_group_commit_shows_how_much_it_batched(tmp_path: Path) -> None:
    # Given: 50 sends at once into the SQLite queue store, which group-commits them
    async def scenario() -> str:
        store = await SqliteQueueStore.open(tmp_path / "queues.db", max_batch_ops=64)
        try:
            await asyncio.gather(*(store.send("async-000", b"{}") for _ in range(50)))
            variance = VarianceSource(lambda: store.stats, 64)
            return await NodeMetrics(None, None, variance=variance).render()
        finally:
            await store.close()

    # When: it is scraped
    samples = parse(asyncio.run(scenario()))

    # Then: fewer transactions (and fsyncs) than operations, within the bound
    operations = _value(samples, "roost_queue_commit_operations_total")
    transactions = _value(samples, "roost_queue_commit_transactions_total")
    assert operations == 50
    assert 1 <= transactions < operations
    assert _value(samples, "roost_queue_commit_fsyncs_total") <= transactions
    assert 1 < _value(samples, "roost_queue_commit_largest_batch") <= 64
    assert _value(samples, "roost_queue_commit_max_batch_ops") == 64
