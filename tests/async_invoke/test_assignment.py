"""Async queues leased to pollers: ``LeasedAssignment`` on a fake clock, then real
pollers handing queues over while events keep running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection

from roost.async_invoke.assignment import ASYNC_QUEUES_LEASE_PREFIX, LeasedAssignment
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import AsyncEvent, encode
from roost.async_invoke.outcome import InvokeResult
from roost.async_invoke.poller import AsyncPoller
from roost.async_invoke.poller_deps import PollerDeps, PollerSettings
from roost.async_invoke.retry import RetryPolicy
from roost.async_invoke.ring import shared_queue_names
from roost.leasing import KeeperConfig, LeaseTable
from roost.store.memory import MemoryConfigStore, MemoryQueueStore
from tests.async_invoke.test_poller import OK, FixedLimits, RecordingSink
from tests.fixtures.stores import FakeClock
from tests.leasing.support import Recorder

QUEUES = shared_queue_names(8)
# Heartbeat 3 s, stall after 10 s; outages are not tested here, so a slow
# store on a loaded machine must not count as one.
CONFIG = KeeperConfig(ttl_s=9.0, stall_after_s=10.0, store_timeout_s=60.0)


async def all_queues() -> Collection[str]:
    return QUEUES


class Node:
    """One node's assignment over a shared lease store, its keepers driven by hand."""

    def __init__(self, store: MemoryConfigStore, clock: FakeClock) -> None:
        table = LeaseTable(store, ASYNC_QUEUES_LEASE_PREFIX, clock=clock)
        self.assignment = LeasedAssignment(table, all_queues, CONFIG, heartbeats=False)
        self.listeners: dict[str, Recorder] = {}

    async def attach(self, poller_id: str) -> Recorder:
        self.listeners[poller_id] = Recorder()
        await self.assignment.attach(poller_id, self.listeners[poller_id])
        return self.listeners[poller_id]

    async def beat(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            for poller_id in self.listeners:
                keeper = self.assignment.keeper(poller_id)
                if keeper is not None:
                    await keeper.tick()


def test_two_pollers_split_the_queues_and_a_stopped_ones_move_at_once() -> None:
    async def scenario() -> None:
        node = Node(MemoryConfigStore(), FakeClock())
        first, second = await node.attach("p0"), await node.attach("p1")

        await node.beat()

        assert len(first.working) == len(second.working) == 4
        assert first.working | second.working == set(QUEUES)
        await node.assignment.detach("p0")  # no heartbeat of p1 in between
        assert first.working == set()
        assert second.working == set(QUEUES)

    asyncio.run(scenario())


def test_a_crashed_pollers_queues_move_after_their_leases_expire() -> None:
    async def scenario() -> None:
        store, clock = MemoryConfigStore(), FakeClock()
        crashing, surviving = Node(store, clock), Node(store, clock)
        lost = await crashing.attach("p0")
        kept = await surviving.attach("p0")
        for _ in range(3):
            await crashing.beat(1)
            await surviving.beat(1)
        assert len(lost.working) == len(kept.working) == 4

        # Given the first node stops beating without handing anything over:
        clock.advance(CONFIG.ttl_s - 1)
        await surviving.beat()
        assert len(kept.working) == 4  # its leases have not expired yet
        clock.advance(2)
        await surviving.beat()

        assert kept.working == set(QUEUES)

    asyncio.run(scenario())


def test_a_queue_without_progress_is_given_up_and_its_work_restarted() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        node = Node(MemoryConfigStore(), clock)
        stuck, healthy = await node.attach("p0"), await node.attach("p1")
        await node.beat()
        stuck_queues = set(stuck.working)
        healthy_queues = set(healthy.working)

        # When p1 reports progress on its queues every heartbeat and p0 never does,
        # for longer than the stall bound plus the cooldown:
        for _ in range(10):
            clock.advance(CONFIG.heartbeat_interval_s)
            for queue in healthy.working:
                node.assignment.progress("p1", queue)
            await node.beat(1)

        # Then p0's loops were stopped and started again (p1 had no room for
        # them: shares are equal), and p1 kept its queues throughout.
        for queue in stuck_queues:
            moves = [kind for kind, q in stuck.events if q == queue]
            assert moves[:3] == ["acquired", "lost", "acquired"], (queue, moves)
        assert healthy.working == healthy_queues
        assert ("lost", next(iter(healthy_queues))) not in healthy.events

    asyncio.run(scenario())


def test_a_stopped_pollers_events_still_run_on_the_other() -> None:
    async def scenario() -> None:
        store = MemoryQueueStore()
        sink = RecordingSink()
        ran: dict[str, str] = {}

        class Invoker:
            poller = ""

            async def invoke(self, event: AsyncEvent) -> InvokeResult:
                ran[event.request_id] = event.function_name
                return OK

        table = LeaseTable(MemoryConfigStore(), ASYNC_QUEUES_LEASE_PREFIX)
        config = KeeperConfig(ttl_s=0.6, store_timeout_s=5.0)
        assignment = LeasedAssignment(table, all_queues, config)
        deps = PollerDeps(
            queues=store,
            assignment=assignment,
            invoker=Invoker(),
            limits=FixedLimits(),
            policy=RetryPolicy(scale=0.001),
            sink=sink,
            gauge=DepthGauge(store, QUEUES),
        )
        settings = PollerSettings(visibility_timeout_s=5, wait_s=0.1)
        pollers = [AsyncPoller(f"p{n}", deps, settings) for n in range(2)]
        for poller in pollers:
            poller.start()
        await until(lambda: all(len(held(assignment, p)) == 4 for p in ("p0", "p1")))
        first_share = held(assignment, "p0")

        # When p0 stops, then events are sent to the queues it held:
        await pollers[0].stop(grace_s=1)
        assert held(assignment, "p1") == set(QUEUES)
        for index, queue in enumerate(sorted(first_share)):
            body = AsyncEvent(f"rid-{index}", "0" * 12, "us-east-1", queue, None, b"{}", now_ms())
            await store.send(queue, encode(body))

        # Then p1 runs every one of them.
        await until(lambda: len(sink.succeeded_events) == len(first_share))
        await pollers[1].stop(grace_s=1)
        assert set(ran.values()) == first_share

    asyncio.run(asyncio.wait_for(scenario(), 20))


def held(assignment: LeasedAssignment, poller_id: str) -> set[str]:
    keeper = assignment.keeper(poller_id)
    return set(keeper.held) if keeper is not None else set()


def now_ms() -> int:
    return int(time.time() * 1000)


async def until(condition: object) -> None:
    assert callable(condition)
    while not condition():
        await asyncio.sleep(0.02)
