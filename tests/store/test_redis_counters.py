"""Redis-only behaviour of the counters: one limit across nodes, and leases that lapse."""

from __future__ import annotations

import asyncio

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
