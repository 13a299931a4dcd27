"""The hash ring and the shuffle-sharding queue router."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.ring import HashRing, shared_queue_names
from roost.async_invoke.router import QueueRouter
from roost.store.memory import MemoryQueueStore

QUEUES = shared_queue_names(8)


def make_router(queues: list[str] = QUEUES) -> tuple[QueueRouter, DepthGauge]:
    gauge = DepthGauge(MemoryQueueStore(), queues)
    return QueueRouter(HashRing(queues), gauge), gauge


def send(router: QueueRouter, gauge: DepthGauge, function: str, count: int) -> Counter[str]:
    """Route ``count`` events of ``function`` as the front end does; where they went."""
    landed: Counter[str] = Counter()
    for _ in range(count):
        queue = router.route("000000000000", function)
        gauge.sent(queue)
        landed[queue] += 1
    return landed


def test_a_key_has_two_distinct_stable_candidates() -> None:
    ring = HashRing(QUEUES)

    first = ring.candidates("acct/fn")

    assert len(set(first)) == 2
    assert HashRing(list(reversed(QUEUES))).candidates("acct/fn") == first


def test_keys_spread_over_every_queue() -> None:
    ring = HashRing(QUEUES)

    firsts = Counter(ring.candidates(f"acct/fn-{i}")[0] for i in range(2000))

    assert set(firsts) == set(QUEUES)
    assert min(firsts.values()) > 2000 / len(QUEUES) / 3


def test_removing_a_queue_moves_only_its_keys() -> None:
    before, after = HashRing(QUEUES), HashRing(QUEUES[:-1])
    keys = [f"acct/fn-{i}" for i in range(1000)]

    moved = [k for k in keys if before.candidates(k, 1) != after.candidates(k, 1)]

    assert all(before.candidates(k, 1) == (QUEUES[-1],) for k in moved)


def test_a_ring_of_one_queue_gives_that_queue() -> None:
    assert HashRing(["only"]).candidates("acct/fn") == ("only",)


def test_no_queues_is_refused() -> None:
    with pytest.raises(ValueError):
        HashRing([])


def test_a_noisy_function_fills_both_of_its_queues_evenly() -> None:
    router, gauge = make_router()

    landed = send(router, gauge, "noisy", 1000)

    assert set(landed) == set(router.shard("000000000000", "noisy"))
    assert abs(landed.most_common()[0][1] - 500) <= 1


def test_two_noisy_functions_leave_a_quiet_one_a_shallow_queue() -> None:
    # Given: two noisy functions with a thousand events each
    router, gauge = make_router()
    noisy = ["noisy-a", "noisy-b"]
    for function in noisy:
        send(router, gauge, function, 1000)
    busy = {q for f in noisy for q in router.shard("000000000000", f)}
    # A quiet function that shares a queue with a noisy one (shuffle sharding
    # promises it its other queue, unless both of its queues are busy).
    quiet = next(
        f"quiet-{i}"
        for i in range(1000)
        if len(set(router.shard("000000000000", f"quiet-{i}")) & busy) == 1
    )

    # When
    queue = router.route("000000000000", quiet)

    # Then: it lands on its queue that no noisy function uses
    assert queue not in busy
    assert gauge.depth(queue) == 0
    assert all(gauge.depth(q) >= 500 for q in busy)


def test_the_gauge_follows_deletes_and_store_refreshes() -> None:
    async def scenario() -> None:
        store = MemoryQueueStore()
        gauge = DepthGauge(store, ["q"])
        gauge.sent("q", 3)
        gauge.deleted("q")
        assert gauge.depth("q") == 2
        await store.send("q", b"x")
        await gauge.refresh()
        assert gauge.depth("q") == 1

    asyncio.run(scenario())


def test_an_express_lane_wins_over_the_ring() -> None:
    class Lane:
        def lane_for(self, account_id: str, function_name: str) -> str | None:
            return "express-hot" if function_name == "hot" else None

    gauge = DepthGauge(MemoryQueueStore(), QUEUES)
    router = QueueRouter(HashRing(QUEUES), gauge, Lane())

    assert router.route("000000000000", "hot") == "express-hot"
    assert router.route("000000000000", "cold") in QUEUES
