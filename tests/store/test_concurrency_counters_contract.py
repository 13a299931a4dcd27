"""The ``ConcurrencyCounters`` contract, on the memory and the Redis adapter.

Each scenario gets a factory of counters that share one state: on Redis, each
call is another client, as another node of a cluster would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from roost.store.errors import StoreUnavailable
from roost.store.ports import ConcurrencyCounters
from tests.fixtures.stores import RunWithCounters

ACCOUNT = "111111111111"
Make = Callable[[], ConcurrencyCounters]


def test_unreserved_functions_share_the_accounts_pool(run_with_counters: RunWithCounters) -> None:
    async def scenario(make: Make) -> None:
        counters = make()
        a = await counters.take(ACCOUNT, "a", reserved=None, unreserved_cap=2, hold_s=60)
        b = await counters.take(ACCOUNT, "b", reserved=None, unreserved_cap=2, hold_s=60)
        assert a is not None and b is not None

        assert await counters.take(ACCOUNT, "c", reserved=None, unreserved_cap=2, hold_s=60) is None
        await counters.give_back(a)
        assert await counters.take(ACCOUNT, "c", reserved=None, unreserved_cap=2, hold_s=60)
        assert await counters.in_use(ACCOUNT, "b") == 1
        assert await counters.in_use(ACCOUNT, "a") == 0

    run_with_counters(scenario)


def test_a_reserved_function_is_capped_alone_and_leaves_the_pool_alone(
    run_with_counters: RunWithCounters,
) -> None:
    async def scenario(make: Make) -> None:
        counters = make()
        lease = await counters.take(ACCOUNT, "r", reserved=1, unreserved_cap=1, hold_s=60)
        assert lease is not None and lease.reserved

        assert await counters.take(ACCOUNT, "r", reserved=1, unreserved_cap=1, hold_s=60) is None
        assert await counters.take(ACCOUNT, "u", reserved=None, unreserved_cap=1, hold_s=60)
        assert await counters.take(ACCOUNT, "r", reserved=0, unreserved_cap=1, hold_s=60) is None

    run_with_counters(scenario)


def test_accounts_have_separate_pools(run_with_counters: RunWithCounters) -> None:
    async def scenario(make: Make) -> None:
        counters = make()
        assert await counters.take(ACCOUNT, "f", reserved=None, unreserved_cap=1, hold_s=60)

        other = await counters.take("222222222222", "f", reserved=None, unreserved_cap=1, hold_s=60)

        assert other is not None

    run_with_counters(scenario)


def test_giving_a_lease_back_twice_frees_one_slot(run_with_counters: RunWithCounters) -> None:
    async def scenario(make: Make) -> None:
        counters = make()
        first = await counters.take(ACCOUNT, "f", reserved=None, unreserved_cap=2, hold_s=60)
        assert first is not None
        assert await counters.take(ACCOUNT, "f", reserved=None, unreserved_cap=2, hold_s=60)

        await counters.give_back(first)
        await counters.give_back(first)

        assert await counters.in_use(ACCOUNT, "f") == 1
        assert await counters.take(ACCOUNT, "f", reserved=None, unreserved_cap=2, hold_s=60)
        assert await counters.take(ACCOUNT, "f", reserved=None, unreserved_cap=2, hold_s=60) is None

    run_with_counters(scenario)


def test_concurrent_takers_never_exceed_the_limit(run_with_counters: RunWithCounters) -> None:
    async def scenario(make: Make) -> None:
        nodes = [make() for _ in range(3)]

        async def take(index: int) -> bool:
            counters = nodes[index % len(nodes)]
            lease = await counters.take(ACCOUNT, "f", reserved=None, unreserved_cap=7, hold_s=60)
            return lease is not None

        granted = await asyncio.gather(*(take(n) for n in range(30)))

        assert sum(granted) == 7
        assert await nodes[0].in_use(ACCOUNT, "f") == 7

    run_with_counters(scenario)


def test_closed_counters_are_unavailable(run_with_counters: RunWithCounters) -> None:
    async def scenario(make: Make) -> None:
        counters = make()
        await counters.close()

        with pytest.raises(StoreUnavailable):
            await counters.take(ACCOUNT, "f", reserved=None, unreserved_cap=1, hold_s=60)

    run_with_counters(scenario)
