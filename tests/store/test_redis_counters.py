"""Redis-only behaviour of the counters: one limit across nodes, and leases that lapse."""

from __future__ import annotations

import asyncio
import contextlib

from roost.store.redis.connection import RedisConnection
from roost.store.redis.counters import RedisConcurrencyCounters

ACCOUNT = "111111111111"


def test_a_dead_nodes_leases_lapse_after_their_hold_time(redis_url: str) -> None:
    async def main() -> None:
        dead = RedisConcurrencyCounters(RedisConnection.from_url(redis_url))
        alive = RedisConcurrencyCounters(RedisConnection.from_url(redis_url))
        try:
            # Given a node that took the account's only slot and died holding it
            assert await dead.take(ACCOUNT, "f", reserved=None, unreserved_cap=1, hold_s=0.3)
            await dead.close()
            assert (
                await alive.take(ACCOUNT, "g", reserved=None, unreserved_cap=1, hold_s=60) is None
            )

            # When its hold time has passed
            await asyncio.sleep(0.4)

            # Then another node gets the slot
            assert await alive.take(ACCOUNT, "g", reserved=None, unreserved_cap=1, hold_s=60)
            assert await alive.in_use(ACCOUNT, "f") == 0
        finally:
            await alive.close()

    asyncio.run(main())


def test_idle_functions_leave_no_keys_behind(redis_url: str) -> None:
    async def main() -> None:
        connection = RedisConnection.from_url(redis_url, namespace="idle")
        counters = RedisConcurrencyCounters(connection)
        try:
            lease = await counters.take(ACCOUNT, "f", reserved=None, unreserved_cap=5, hold_s=0.2)
            assert lease is not None
            assert await connection.client.keys("idle:*")

            await asyncio.sleep(0.3)

            assert await connection.client.keys("idle:*") == []
        finally:
            await counters.close()

    asyncio.run(main())


def test_a_take_cancelled_in_flight_does_not_keep_its_slot(redis_url: str) -> None:
    async def main() -> None:
        counters = RedisConcurrencyCounters(RedisConnection.from_url(redis_url))
        try:
            # Given a take whose caller gives up while it is on its way to Redis
            task = asyncio.create_task(
                counters.take(ACCOUNT, "f", reserved=None, unreserved_cap=1, hold_s=60)
            )
            await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

            # Then the slot comes back well before the lease would lapse (60 s)
            granted = None
            for _ in range(100):
                granted = await counters.take(
                    ACCOUNT, "g", reserved=None, unreserved_cap=1, hold_s=60
                )
                if granted is not None:
                    break
                await asyncio.sleep(0.01)
            assert granted is not None
            assert await counters.in_use(ACCOUNT, "f") == 0
        finally:
            await counters.close()

    asyncio.run(main())


def test_checks_of_many_accounts_in_one_turn_each_get_their_own_answer(redis_url: str) -> None:
    async def main() -> None:
        counters = RedisConcurrencyCounters(RedisConnection.from_url(redis_url))
        try:
            accounts = [f"{n:012d}" for n in range(5)]

            granted = await asyncio.gather(
                *(
                    counters.take(account, "f", reserved=None, unreserved_cap=2, hold_s=60)
                    for account in accounts
                    for _ in range(3)
                )
            )

            assert [lease is not None for lease in granted] == [True, True, False] * 5
        finally:
            await counters.close()

    asyncio.run(main())
