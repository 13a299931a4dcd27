"""The express lane: hot functions get sideline queues, reaped when quiet and empty."""

from __future__ import annotations

import asyncio
import time

from roost.async_invoke.assignment import ASYNC_QUEUES_LEASE_PREFIX, LeasedAssignment
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import AsyncEvent, encode
from roost.async_invoke.express import (
    ExpressSettings,
    RateExpressLane,
    RateWindow,
    is_express_queue,
    lane_queue_names,
    queues_to_poll,
)
from roost.async_invoke.outcome import InvokeResult
from roost.async_invoke.poller import AsyncPoller
from roost.async_invoke.poller_deps import PollerDeps, PollerSettings
from roost.async_invoke.retry import RetryPolicy
from roost.async_invoke.ring import HashRing, shared_queue_names
from roost.async_invoke.router import QueueRouter, shard_key
from roost.leasing import KeeperConfig, LeaseTable
from roost.store.memory import MemoryConfigStore, MemoryQueueStore
from tests.async_invoke.test_poller import OK, FixedLimits, RecordingSink

ACCOUNT = "000000000000"
QUEUES = shared_queue_names(8)
# A lane from 10 events/s over 1 s; reaped after 30 s below that.
SETTINGS = ExpressSettings(rate_per_s=10, window_s=1, quiet_s=30)


class Clock:
    def __init__(self) -> None:
        self.now_ms = 1_767_225_600_000

    def __call__(self) -> int:
        return self.now_ms


def build(
    store: MemoryQueueStore | None = None, settings: ExpressSettings = SETTINGS
) -> tuple[QueueRouter, RateExpressLane, Clock, DepthGauge]:
    clock = Clock()
    gauge = DepthGauge(store or MemoryQueueStore(), QUEUES)
    lane = RateExpressLane(settings, gauge, clock)
    return QueueRouter(HashRing(QUEUES), gauge, lane), lane, clock, gauge


def send(router: QueueRouter, clock: Clock, name: str, count: int, every_ms: int = 0) -> set[str]:
    """Route ``count`` events of ``name`` ``every_ms`` apart; the queues used."""
    used = set()
    for _ in range(count):
        used.add(router.route(ACCOUNT, name))
        clock.now_ms += every_ms
    return used


def test_a_hot_function_gets_its_own_queues() -> None:
    router, lane, clock, _ = build()

    used = send(router, clock, "hot", 40)  # 40 events within one window

    hot_lane = lane_queue_names(shard_key(ACCOUNT, "hot"), SETTINGS.width)
    assert lane.queues() == sorted(hot_lane)
    assert router.route(ACCOUNT, "hot") in hot_lane
    assert all(is_express_queue(queue) for queue in hot_lane)
    assert used & set(QUEUES) <= set(router.shard(ACCOUNT, "hot"))  # the first ones


def test_a_quiet_function_keeps_the_shared_ring() -> None:
    router, lane, clock, _ = build()

    used = send(router, clock, "quiet", 50, every_ms=200)  # 5 events/s for 10 s

    assert used <= set(QUEUES)
    assert lane.queues() == []


def test_a_lane_spreads_its_events_over_its_queues_by_depth() -> None:
    router, _, clock, gauge = build()
    send(router, clock, "hot", 20)
    first, second = lane_queue_names(shard_key(ACCOUNT, "hot"), 2)

    gauge.sent(first, 5)

    assert router.route(ACCOUNT, "hot") == second


def test_a_lane_is_reaped_once_quiet_and_empty() -> None:
    async def scenario() -> None:
        store = MemoryQueueStore()
        router, lane, clock, _ = build(store)
        send(router, clock, "hot", 20)
        [hot_lane] = lane.lanes().values()
        await store.send(hot_lane[0], b"{}")

        # Not yet quiet for long enough, then quiet but not empty:
        clock.now_ms += 29_000
        assert await lane.reap(store) == []
        clock.now_ms += 2_000
        assert await lane.reap(store) == []

        # Once empty, it is reaped and the function is back on the ring.
        [message] = await store.receive(hot_lane[0])
        await store.delete(hot_lane[0], message.receipt)
        assert await lane.reap(store) == [shard_key(ACCOUNT, "hot")]
        assert lane.queues() == []
        assert router.route(ACCOUNT, "hot") in router.shard(ACCOUNT, "hot")

    asyncio.run(scenario())


def test_a_lane_stays_open_while_its_function_stays_hot() -> None:
    async def scenario() -> None:
        store = MemoryQueueStore()
        router, lane, clock, _ = build(store)

        send(router, clock, "hot", 1200, every_ms=50)  # 20 events/s for 60 s

        assert await lane.reap(store) == []
        assert len(lane.queues()) == 2

    asyncio.run(scenario())


def test_lanes_can_be_turned_off() -> None:
    router, lane, clock, _ = build(settings=ExpressSettings(rate_per_s=0))

    assert send(router, clock, "hot", 100) <= set(QUEUES)
    assert lane.queues() == []


def test_the_rate_window_slides() -> None:
    window = RateWindow(1000, 10_000)
    window.add(10_000, 10)

    assert window.rate_per_s(10_999) == 10
    assert window.rate_per_s(11_500) == 5  # half the previous window still counts
    assert window.rate_per_s(12_000) == 0
    assert window.idle(12_000)


def test_events_in_a_reaped_lane_are_not_lost() -> None:
    async def scenario() -> None:
        store = MemoryQueueStore()
        router, lane, clock, _ = build(store)
        send(router, clock, "hot", 20)
        [hot_lane] = lane.lanes().values()
        clock.now_ms += 31_000
        assert await lane.reap(store) == [shard_key(ACCOUNT, "hot")]

        # Given a retry sent to the lane after it was reaped (a poller sends a
        # function error's retry copy to the queue the event came from):
        event = AsyncEvent("rid-late", ACCOUNT, "us-east-1", "hot", None, b"{}", now_ms())
        await store.send(hot_lane[0], encode(event))

        # Then the lane queue is still a lease resource, and a poller runs it.
        async def resources() -> list[str]:
            return await queues_to_poll(store, QUEUES, lane)

        assert hot_lane[0] in await resources()
        sink = await run_pollers_until_done(store, resources, expected=1)
        assert [e.request_id for e in sink.succeeded_events] == ["rid-late"]
        assert hot_lane[0] not in await resources()

    asyncio.run(asyncio.wait_for(scenario(), 20))


async def run_pollers_until_done(
    store: MemoryQueueStore, resources: object, expected: int
) -> RecordingSink:
    sink = RecordingSink()

    class Invoker:
        async def invoke(self, event: AsyncEvent) -> InvokeResult:
            return OK

    assert callable(resources)
    table = LeaseTable(MemoryConfigStore(), ASYNC_QUEUES_LEASE_PREFIX)
    assignment = LeasedAssignment(table, resources, KeeperConfig(ttl_s=0.6, store_timeout_s=5))
    deps = PollerDeps(
        queues=store,
        assignment=assignment,
        invoker=Invoker(),
        limits=FixedLimits(),
        policy=RetryPolicy(scale=0.001),
        sink=sink,
        gauge=DepthGauge(store, QUEUES),
    )
    poller = AsyncPoller("p0", deps, PollerSettings(visibility_timeout_s=5, wait_s=0.1))
    poller.start()
    while len(sink.succeeded_events) < expected or await store.queues():
        await asyncio.sleep(0.02)
    await poller.stop(grace_s=1)
    return sink


def now_ms() -> int:
    return int(time.time() * 1000)


def test_events_left_in_a_shared_queue_outside_a_smaller_ring_still_run() -> None:
    """A node restarted with fewer shared queues (ROOST_ASYNC_QUEUES lowered) routes no
    new event to the queues it dropped, but polls them while they hold events."""

    async def scenario() -> None:
        store = MemoryQueueStore()
        _, lane, _, _ = build(store)
        smaller = shared_queue_names(4)
        dropped = QUEUES[7]
        assert dropped not in smaller
        event = AsyncEvent("rid-left", ACCOUNT, "us-east-1", "fn", None, b"{}", now_ms())
        await store.send(dropped, encode(event))

        async def resources() -> list[str]:
            return await queues_to_poll(store, smaller, lane)

        assert dropped in await resources()
        sink = await run_pollers_until_done(store, resources, expected=1)
        assert [e.request_id for e in sink.succeeded_events] == ["rid-left"]
        assert dropped not in await resources()

    asyncio.run(asyncio.wait_for(scenario(), 20))
