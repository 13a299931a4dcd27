"""``RedisConnection`` against a real redis-server: namespaced keys, scripts, errors."""

from __future__ import annotations

import asyncio

import pytest

from roost.store.errors import StoreUnavailable
from roost.store.redis.connection import RedisConnection
from tests.fixtures.server_process import free_port


def test_keys_are_namespaced_and_scripts_run_on_the_server(redis_url: str) -> None:
    async def main() -> None:
        connection = RedisConnection.from_url(redis_url, namespace="t1")
        try:
            add = connection.script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            assert await add([connection.key("counter")], [5]) == 5
            assert await add([connection.key("counter")], [2]) == 7
            assert await connection.call(lambda: connection.client.get("t1:counter")) == b"7"
        finally:
            await connection.close()

    asyncio.run(main())


def test_an_unreachable_server_and_a_closed_connection_are_store_unavailable() -> None:
    async def main() -> None:
        connection = RedisConnection.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=1)
        with pytest.raises(StoreUnavailable):
            await connection.call(lambda: connection.client.ping())
        await connection.close()
        with pytest.raises(StoreUnavailable, match="closed"):
            await connection.call(lambda: connection.client.ping())

    asyncio.run(main())
