"""Pollers with backlog shards over the in-memory queue store: a concurrency-1
tenant's backlog is moved out of the shared queue into its shard queue, the other
tenant's events run meanwhile, nothing is lost, and the shard queue is drained at
the tenant bucket's pace instead of being received and put back over and over."""

from __future__ import annotations

import asyncio

from roost.async_invoke.assignment import ASYNC_QUEUES_LEASE_PREFIX, LeasedAssignment
from roost.async_invoke.backlog import BacklogRecovery, BacklogSettings
from roost.async_invoke.backlog_ledger import BacklogLedger, ShardKey
from roost.async_invoke.backlog_shards import (
    BacklogShards,
    ShardSettings,
    shard_queue_name,
    shard_queues_to_poll,
)
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import encode
from roost.async_invoke.poller import AsyncPoller
from roost.async_invoke.poller_deps import PollerDeps, PollerSettings
from roost.async_invoke.retry import RetryPolicy
from roost.flow.tenant_buckets import TenantBuckets, TenantSizing
from roost.leasing import KeeperConfig, LeaseTable
from roost.store.memory import MemoryConfigStore, MemoryQueueStore
from tests.async_invoke.test_poller import FixedLimits, RecordingSink
from tests.async_invoke.test_tenant_deferral import (
    ACCOUNT,
    QUEUE,
    Reservations,
    SlowInvoker,
    an_event,
)

BACKLOG = 300
SHARD = shard_queue_name(ShardKey(ACCOUNT, "noisy", "$LATEST"))


def test_a_deep_backlog_is_moved_to_its_shard_queue_and_drained_at_its_pace() -> None:
    async def scenario() -> None:
        # Given a concurrency-1 tenant with 300 events queued ahead of another's 5
        store, sink, invoker = MemoryQueueStore(), RecordingSink(), SlowInvoker(0.05)
        for index in range(BACKLOG):
            await store.send(QUEUE, encode(an_event("noisy", index)))
        for index in range(5):
            await store.send(QUEUE, encode(an_event("quiet", index)))
        sizing = TenantSizing(default_duration_s=0.05, max_defer_s=0.5)
        buckets = TenantBuckets(Reservations({"noisy": 1}), sizing)
        poller, shards = _poller(store, sink, invoker, buckets)

        # When the pollers run, with shards opening at 50 queued events
        poller.start()
        try:
            await asyncio.wait_for(_until_moved(store, sink), 20)
            deferred = buckets.figures()[(ACCOUNT, "noisy")].deferred
            ran = _ran(sink, "noisy")
            await asyncio.sleep(1.0)
            deferred_later = buckets.figures()[(ACCOUNT, "noisy")].deferred
            ran_later = _ran(sink, "noisy")
        finally:
            await poller.stop(grace_s=1)

        # Then the shard opened and the noisy events were moved out of the shared queue...
        assert shards.opened_total == 1 and shards.queues() == [SHARD]
        assert shards.moved[ShardKey(ACCOUNT, "noisy", "$LATEST")] > BACKLOG // 2
        # ...the quiet tenant ran long before the backlog drained...
        assert _ran(sink, "quiet") == 5
        assert ran < BACKLOG // 2
        # ...the shard drains at its bucket's pace (20/s), received about once per
        # token rather than cycled through receives and put back...
        assert ran_later > ran
        assert deferred_later - deferred <= 2 * (ran_later - ran) + 10
        # ...and no noisy event was lost: each ran or waits in the shard queue.
        depth = await store.depth(SHARD)
        assert (await store.depth(QUEUE)).total == 0
        assert depth.total + _ran(sink, "noisy") >= BACKLOG

    asyncio.run(scenario())


def _poller(
    store: MemoryQueueStore, sink: RecordingSink, invoker: SlowInvoker, buckets: TenantBuckets
) -> tuple[AsyncPoller, BacklogShards]:
    """One poller leasing the shared queue and the shard queues, as the plane wires it."""
    gauge = DepthGauge(store, [QUEUE])
    ledger = BacklogLedger(lambda: 0)
    shards_box: list[BacklogShards] = []

    async def resources() -> list[str]:
        return sorted({QUEUE, *await shard_queues_to_poll(store, shards_box[0])})

    table = LeaseTable(MemoryConfigStore(), ASYNC_QUEUES_LEASE_PREFIX)
    assignment = LeasedAssignment(table, resources, KeeperConfig(ttl_s=0.6, store_timeout_s=5))
    shards = BacklogShards(ShardSettings(depth=50), ledger, gauge, on_open=assignment.nudge)
    shards_box.append(shards)
    deps = PollerDeps(
        queues=store,
        assignment=assignment,
        invoker=invoker,
        limits=FixedLimits(),
        policy=RetryPolicy(scale=0.001),
        sink=sink,
        gauge=gauge,
        tenants=buckets,
        backlog=BacklogRecovery(BacklogSettings(), ledger),
        shards=shards,
    )
    settings = PollerSettings(concurrency=8, visibility_timeout_s=5, wait_s=0.1)
    return AsyncPoller("p0", deps, settings), shards


def _ran(sink: RecordingSink, function: str) -> int:
    return sum(1 for event in sink.succeeded_events if event.function_name == function)


async def _until_moved(store: MemoryQueueStore, sink: RecordingSink) -> None:
    """Until the quiet tenant ran and the shared queue is empty (all moved or run)."""
    while _ran(sink, "quiet") < 5 or (await store.depth(QUEUE)).total > 0:
        await asyncio.sleep(0.02)
