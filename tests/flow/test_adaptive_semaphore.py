"""``AdaptiveSemaphore``: a bound that may move while slots are held."""

from __future__ import annotations

import asyncio

import pytest

from roost.flow.adaptive_semaphore import AdaptiveSemaphore


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_holders_never_exceed_the_limit_and_wait_in_arrival_order() -> None:
    async def main() -> list[int]:
        gate = AdaptiveSemaphore(lambda: 2)
        order: list[int] = []
        running = peak = 0

        async def work(n: int) -> None:
            nonlocal running, peak
            async with gate:
                order.append(n)
                running += 1
                peak = max(peak, running)
                await asyncio.sleep(0.001)
                running -= 1

        await asyncio.gather(*(work(n) for n in range(10)))
        assert peak == 2
        return order

    assert asyncio.run(main()) == list(range(10))


def test_a_lower_limit_takes_effect_as_slots_come_back() -> None:
    async def main() -> None:
        limit = 3
        gate = AdaptiveSemaphore(lambda: limit)
        for _ in range(3):
            await gate.acquire()
        limit = 1
        waiter = asyncio.ensure_future(gate.acquire())
        gate.release()
        gate.release()
        await _settle()
        assert not waiter.done() and gate.in_use == 1  # still one over the new limit

        gate.release()
        await _settle()
        assert waiter.done() and gate.in_use == 1

    asyncio.run(main())


def test_a_higher_limit_lets_waiters_in_on_wake() -> None:
    async def main() -> None:
        limit = 1
        gate = AdaptiveSemaphore(lambda: limit)
        await gate.acquire()
        waiters = [asyncio.ensure_future(gate.acquire()) for _ in range(3)]
        await _settle()
        assert gate.free() == 0 and gate.locked()

        limit = 4
        gate.wake()
        await _settle()
        assert all(waiter.done() for waiter in waiters)
        assert gate.in_use == 4

    asyncio.run(main())


def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    async def main() -> None:
        gate = AdaptiveSemaphore(lambda: 1)
        await gate.acquire()
        first = asyncio.ensure_future(gate.acquire())
        second = asyncio.ensure_future(gate.acquire())
        await _settle()
        first.cancel()
        await _settle()
        gate.release()
        await _settle()
        assert second.done() and not second.cancelled()
        assert gate.in_use == 1

    asyncio.run(main())


def test_a_zero_limit_still_admits_one_so_nothing_is_stranded() -> None:
    async def main() -> None:
        gate = AdaptiveSemaphore(lambda: 0)
        await asyncio.wait_for(gate.acquire(), 1)
        assert gate.in_use == 1

    asyncio.run(main())


def test_releasing_more_than_acquired_is_an_error() -> None:
    gate = AdaptiveSemaphore(lambda: 1)
    with pytest.raises(ValueError):
        gate.release()
