"""The reusable token bucket: refill and burst, waiting takes, live rate changes."""

from __future__ import annotations

import asyncio
import math

import pytest

from roost.flow.token_bucket import TokenBucket


class Clock:
    """A clock tests move by hand; ``sleep`` moves it (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def test_time_until_says_when_tokens_will_be_there() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=4.0, burst=2, clock=clock)
    assert bucket.time_until() == 0.0

    assert bucket.try_take(2)
    assert bucket.time_until() == pytest.approx(0.25)
    assert bucket.time_until(2) == pytest.approx(0.5)
    assert bucket.time_until(3) == math.inf  # more than the burst: never


def test_a_rate_of_zero_never_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=0.0, burst=1, clock=clock)
    assert bucket.try_take()
    clock.now += 1e6
    assert not bucket.try_take()
    assert bucket.time_until() == math.inf


def test_set_rate_keeps_what_accrued_and_clips_to_the_new_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=1.0, burst=10, clock=clock)
    assert bucket.try_take(10)
    clock.now += 4  # 4 tokens at the old rate

    bucket.set_rate(100.0, burst=3)

    assert bucket.available == pytest.approx(3)  # clipped to the new burst
    assert bucket.try_take(3)
    clock.now += 0.01
    assert bucket.available == pytest.approx(1.0)  # refilled at the new rate


def test_invalid_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate_per_s=-1, burst=1)
    with pytest.raises(ValueError):
        TokenBucket(rate_per_s=1, burst=0)


def test_take_waits_for_the_refill() -> None:
    async def scenario() -> None:
        clock = Clock()
        bucket = TokenBucket(rate_per_s=2.0, burst=1, clock=clock, sleep=clock.sleep)
        await bucket.take()  # the burst: no wait
        assert clock.slept == []

        await bucket.take()

        assert sum(clock.slept) == pytest.approx(0.5)
        assert bucket.available == pytest.approx(0.0)

    asyncio.run(scenario())


def test_waiting_takes_are_served_in_arrival_order() -> None:
    async def scenario() -> None:
        clock = Clock()
        bucket = TokenBucket(rate_per_s=10.0, burst=1, clock=clock, sleep=clock.sleep)
        assert bucket.try_take()
        order: list[int] = []

        async def taker(index: int) -> None:
            await bucket.take()
            order.append(index)

        await asyncio.gather(*(taker(index) for index in range(5)))

        assert order == [0, 1, 2, 3, 4]
        assert clock.now - 1000.0 == pytest.approx(0.5)  # five tokens at 10/s

    asyncio.run(scenario())


def test_a_cancelled_take_takes_nothing() -> None:
    async def scenario() -> None:
        bucket = TokenBucket(rate_per_s=0.5, burst=1)  # real clock: a token every 2 s
        assert bucket.try_take()
        waiter = asyncio.ensure_future(bucket.take())
        await asyncio.sleep(0.05)

        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

        # Nothing was taken: the next token is still due within the refill time.
        assert 0 < bucket.time_until() <= 2.0
        bucket.set_rate(1000.0)
        await asyncio.wait_for(bucket.take(), 1)  # the lock was released too

    asyncio.run(scenario())


def test_a_waiting_take_sees_a_raised_rate() -> None:
    async def scenario() -> None:
        bucket = TokenBucket(rate_per_s=0.0, burst=1)  # never refills
        assert bucket.try_take()
        waiter = asyncio.ensure_future(bucket.take())
        await asyncio.sleep(0.05)
        assert not waiter.done()

        bucket.set_rate(100.0)

        await asyncio.wait_for(waiter, 2)

    asyncio.run(scenario())
