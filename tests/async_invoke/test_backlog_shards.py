"""Backlog shards: a deep (function, qualifier) backlog gets a queue of its own, its
events are routed and moved there, its drain is paced by its tenant bucket, and
the shard is reaped once its queue is empty and its backlog gone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from roost.async_invoke.backlog_ledger import BacklogLedger, ShardKey
from roost.async_invoke.backlog_shards import (
    BacklogShards,
    Move,
    ShardSettings,
    is_shard_queue,
    paced_batch,
    shard_queue_name,
    shard_queues_to_poll,
)
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import AsyncEvent, decode, encode
from roost.async_invoke.ring import HashRing, shared_queue_names
from roost.async_invoke.router import QueueRouter
from roost.flow.tenant_buckets import TenantBuckets, TenantSizing
from roost.observability.prometheus import parse, render
from roost.observability.shard_metrics import shard_families
from roost.store.errors import StoreUnavailable
from roost.store.memory import MemoryQueueStore
from roost.store.ports import QueueStore, ReceivedMessage
from tests.async_invoke.test_tenant_deferral import Reservations
from tests.fixtures.stores import FakeClock, RunWithQueueStore

ACCOUNT = "000000000000"
QUEUES = shared_queue_names(4)
SETTINGS = ShardSettings(depth=10, max_open=2)
NOISY = ShardKey(ACCOUNT, "noisy", "$LATEST")


class Clock:
    def __init__(self) -> None:
        self.now_ms = 1_767_225_600_000

    def __call__(self) -> int:
        return self.now_ms


def build(
    store: QueueStore | None = None, settings: ShardSettings = SETTINGS
) -> tuple[QueueRouter, BacklogShards, BacklogLedger, DepthGauge]:
    clock = Clock()
    gauge = DepthGauge(store or MemoryQueueStore(), QUEUES)
    ledger = BacklogLedger(clock)
    shards = BacklogShards(settings, ledger, gauge, clock)
    return QueueRouter(HashRing(QUEUES), gauge, shards=shards), shards, ledger, gauge


def an_event(index: int, function: str = "noisy", qualifier: str | None = None) -> AsyncEvent:
    return AsyncEvent(
        f"{function}-{qualifier}-{index}",
        ACCOUNT,
        "us-east-1",
        function,
        qualifier,
        b"{}",
        1_767_225_600_000 + index,
    )


def accept(router: QueueRouter, ledger: BacklogLedger, event: AsyncEvent) -> str:
    """What the front end does: route, then count the event once it is durable."""
    queue = router.route(event.account_id, event.function_name, event.qualifier)
    ledger.add(event)
    return queue


def test_shard_queues_are_named_from_the_key_the_same_everywhere() -> None:
    name = shard_queue_name(NOISY)

    assert name == shard_queue_name(ShardKey(ACCOUNT, "noisy", "$LATEST"))
    assert is_shard_queue(name) and name.startswith("backlog-")
    assert name != shard_queue_name(ShardKey(ACCOUNT, "noisy", "1"))
    assert name != shard_queue_name(ShardKey(ACCOUNT, "noisy", "prod"))
    assert not any(is_shard_queue(queue) for queue in QUEUES)


def test_a_shard_opens_when_its_backlog_reaches_the_depth() -> None:
    router, shards, ledger, _ = build()

    used = {accept(router, ledger, an_event(index)) for index in range(10)}

    # The first 10 events went to the ring; the 10th made the backlog deep enough.
    assert used <= set(QUEUES)
    assert accept(router, ledger, an_event(10)) == shard_queue_name(NOISY)
    assert shards.queues() == [shard_queue_name(NOISY)]
    assert shards.key_of(shard_queue_name(NOISY)) == NOISY
    assert shards.opened_total == 1


def test_versions_and_aliases_are_shards_of_their_own() -> None:
    router, shards, ledger, _ = build()
    for index in range(11):
        accept(router, ledger, an_event(index, qualifier="1"))

    # Version 1 has its queue; $LATEST and the alias of the same function stay on the ring.
    assert accept(router, ledger, an_event(11, qualifier="1")) == shard_queue_name(
        ShardKey(ACCOUNT, "noisy", "1")
    )
    assert accept(router, ledger, an_event(0)) in QUEUES
    assert accept(router, ledger, an_event(0, qualifier="prod")) in QUEUES
    assert len(shards.queues()) == 1


def test_shards_can_be_turned_off_and_are_bounded_in_number() -> None:
    router, shards, ledger, _ = build(settings=ShardSettings(depth=0))
    for index in range(50):
        assert accept(router, ledger, an_event(index)) in QUEUES
    assert shards.queues() == []

    router, shards, ledger, _ = build()  # at most 2 open
    for function in ("a", "b", "c"):
        for index in range(12):
            accept(router, ledger, an_event(index, function))
    assert len(shards.queues()) == 2
    assert accept(router, ledger, an_event(99, "c")) in QUEUES


def test_a_received_event_of_an_open_shard_is_to_be_moved_there() -> None:
    _, shards, ledger, _ = build()
    for index in range(10):
        ledger.add(an_event(index))  # seen by pollers: events left by an outage
    event = an_event(0)
    target = shards.destination(QUEUES[0], event)

    assert target == shard_queue_name(NOISY)
    # Received from the shard queue itself: run it there.
    assert shards.destination(target, event) is None
    # Another tenant's events are not moved.
    assert shards.destination(QUEUES[0], an_event(0, "quiet")) is None


def test_moving_copies_durably_then_deletes(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        _, shards, ledger, gauge = build(store)
        events = [an_event(index) for index in range(12)]
        for event in events:
            await store.send(QUEUES[0], encode(event))
            ledger.add(event)
        received = await store.receive(QUEUES[0], max_messages=10)
        moves = [_move(shards, message) for message in received]

        done = await shards.move(store, QUEUES[0], moves)

        target = shard_queue_name(NOISY)
        assert len(done) == 10
        assert (await store.depth(QUEUES[0])).total == 2
        assert (await store.depth(target)).visible == 10
        copies = await store.receive(target, max_messages=10)
        assert {decode(m.body) for m in copies} == {decode(m.body) for m in received}
        assert shards.moved == {NOISY: 10}
        assert gauge.depth(target) == 10

    run_with_queue_store(scenario)


def test_an_event_whose_copy_fails_stays_where_it_was() -> None:
    async def scenario() -> None:
        store = NoBatchStore()
        _, shards, ledger, _ = build(store)
        for index in range(10):
            ledger.add(an_event(index))
            await store.send(QUEUES[0], encode(an_event(index)))
        received = await store.receive(QUEUES[0], max_messages=10)

        done = await shards.move(store, QUEUES[0], [_move(shards, m) for m in received])

        assert done == []
        assert (await store.depth(QUEUES[0])).total == 10  # nothing deleted, nothing lost
        assert shards.moved == {}

    asyncio.run(scenario())


def test_a_shard_is_reaped_once_empty_and_its_backlog_gone() -> None:
    async def scenario() -> None:
        store = MemoryQueueStore()
        router, shards, ledger, _ = build(store)
        events = [an_event(index) for index in range(12)]
        for event in events:
            queue = accept(router, ledger, event)
            await store.send(queue, encode(event))
        target = shard_queue_name(NOISY)

        # Deep and holding events: kept.
        assert await shards.reap(store) == []
        # (the last two events were routed there)
        for message in await store.receive(target, max_messages=10):
            await store.delete(target, message.receipt)
        # Empty, but the ledger still counts 12 (events in the ring): kept.
        assert await shards.reap(store) == []
        for event in events[:7]:
            ledger.done(event)
        # 5 left: not below half the depth yet (hysteresis).
        assert await shards.reap(store) == []
        ledger.done(events[7])
        # Empty and 4 left: reaped, the shard's events go to the ring again.
        assert await shards.reap(store) == [target]
        assert shards.queues() == [] and shards.reaped_total == 1
        assert accept(router, ledger, an_event(50)) in QUEUES
        assert target not in await shard_queues_to_poll(store, shards)

    asyncio.run(scenario())


def test_a_shard_queue_in_the_store_is_adopted_and_learns_its_key() -> None:
    async def scenario() -> None:
        # Given a shard queue left in the store by another node (or an earlier run)
        store = MemoryQueueStore()
        router, shards, ledger, _ = build(store)
        target = shard_queue_name(NOISY)
        await store.send(target, encode(an_event(0)))

        # Then it is leased and open, its key unknown until an event of it is seen...
        assert await shard_queues_to_poll(store, shards) == [target]
        assert shards.key_of(target) is None
        assert shards.destination(target, an_event(0)) is None
        assert shards.key_of(target) == NOISY
        # ...and the shard's new events go there, though this node's ledger is shallow.
        assert accept(router, ledger, an_event(1)) == target
        assert shards.opened_total == 0

    asyncio.run(scenario())


def test_a_shard_queue_is_received_from_at_its_tenant_buckets_pace() -> None:
    async def scenario() -> None:
        store = MemoryQueueStore()
        router, shards, ledger, _ = build(store)
        for index in range(11):
            accept(router, ledger, an_event(index))
        target = shard_queue_name(NOISY)
        sizing = TenantSizing(default_duration_s=0.05)  # concurrency 1: 20 tokens/s
        buckets = TenantBuckets(Reservations({"noisy": 1}), sizing)
        assert await buckets.admit(ACCOUNT, "noisy") == 0.0  # the only token is taken
        progress: list[int] = []

        started = asyncio.get_running_loop().time()
        batch = await paced_batch(shards, buckets, target, 10, lambda: progress.append(1))
        waited = asyncio.get_running_loop().time() - started

        assert batch == 1  # one token: one message
        assert 0.02 <= waited < 1.0
        # A ring queue is not paced.
        assert await paced_batch(shards, buckets, QUEUES[0], 10, lambda: None) == 10

    asyncio.run(scenario())


def test_a_shard_of_a_tenant_not_sized_yet_is_received_from_a_batch_at_a_time() -> None:
    """After a restart the shard queue is adopted from the store, and a move tells its
    tenant before any of its events was admitted here: its bucket is not sized yet
    (infinite headroom), and the poller must still get a batch, not an error."""

    async def scenario() -> None:
        store = MemoryQueueStore()
        _, shards, _, _ = build(store)
        target = shard_queue_name(NOISY)
        await store.send(target, encode(an_event(0)))
        assert await shard_queues_to_poll(store, shards) == [target]
        assert shards.destination(QUEUES[0], an_event(1)) == target  # the tenant is known
        buckets = TenantBuckets(Reservations({"noisy": 1}), TenantSizing())

        assert await paced_batch(shards, buckets, target, 10, lambda: None) == 10

    asyncio.run(scenario())


def test_metrics_show_open_shards_and_events_moved() -> None:
    async def scenario() -> None:
        store = MemoryQueueStore()
        _, shards, ledger, _ = build(store)
        for index in range(10):
            ledger.add(an_event(index))
            await store.send(QUEUES[0], encode(an_event(index)))
        received = await store.receive(QUEUES[0], max_messages=4)
        await shards.move(store, QUEUES[0], [_move(shards, m) for m in received])

        samples = parse(render(shard_families(shards)))

        labels = {"account": ACCOUNT, "function": "noisy", "qualifier": "$LATEST"}
        values = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}
        assert values[("roost_async_backlog_shards_open", ())] == 1
        assert values[("roost_async_backlog_shards_opened_total", ())] == 1
        assert values[("roost_async_backlog_shards_reaped_total", ())] == 0
        moved_key = ("roost_async_backlog_shard_events_moved_total", tuple(sorted(labels.items())))
        assert values[moved_key] == 4
        queue_labels = {**labels, "queue": shard_queue_name(NOISY)}
        assert values[("roost_async_backlog_shard_queue", tuple(sorted(queue_labels.items())))] == 1

    asyncio.run(scenario())


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        ShardSettings(depth=-1)
    assert not ShardSettings(depth=0).enabled
    assert ShardSettings().enabled


def _move(shards: BacklogShards, message: ReceivedMessage) -> Move:
    event = decode(message.body)
    target = shards.destination(QUEUES[0], event)
    assert target is not None
    return Move(message, event, target)


class NoBatchStore(MemoryQueueStore):
    """A queue store whose sends to shard queues fail (the store went down)."""

    async def send_batch(
        self, queue: str, bodies: Sequence[bytes], *, delay_s: float = 0.0
    ) -> list[str]:
        if is_shard_queue(queue):
            raise StoreUnavailable("down")
        return await super().send_batch(queue, bodies, delay_s=delay_s)
