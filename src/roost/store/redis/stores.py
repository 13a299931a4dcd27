"""``open_redis_stores``: the config, code, mapping and checkpoint adapters of one Redis.

A cluster node opens these from the URL and namespace every node shares. Each
adapter has its own client (and connection pool), so closing one never cuts
another's requests short. The queue store (``queues.py``) opens the same way
and is composed beside these by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from roost.store.redis.checkpoints import RedisCheckpointStore
from roost.store.redis.code import RedisCodeStore
from roost.store.redis.config import RedisConfigStore
from roost.store.redis.connection import DEFAULT_NAMESPACE
from roost.store.redis.mappings import RedisMappingStore


@dataclass(frozen=True)
class RedisStateStores:
    """The Redis adapters of the config, code, mapping and checkpoint ports."""

    config: RedisConfigStore
    code: RedisCodeStore
    mappings: RedisMappingStore
    checkpoints: RedisCheckpointStore

    async def close(self) -> None:
        """Close every adapter; later calls to any of them raise ``StoreUnavailable``."""
        for store in (self.checkpoints, self.mappings, self.code, self.config):
            await store.close()


async def open_redis_stores(url: str, *, namespace: str = DEFAULT_NAMESPACE) -> RedisStateStores:
    """Open the four adapters on ``url`` (``redis://host:port/db``) under ``namespace``.

    Each checks that the server answers: ``StoreUnavailable`` if it does not,
    with nothing left open.
    """
    config = await RedisConfigStore.open(url, namespace=namespace)
    opened: list[RedisConfigStore | RedisCodeStore | RedisMappingStore] = [config]
    try:
        code = await RedisCodeStore.open(url, namespace=namespace)
        opened.append(code)
        mappings = await RedisMappingStore.open(url, namespace=namespace)
        opened.append(mappings)
        checkpoints = await RedisCheckpointStore.open(url, namespace=namespace)
    except BaseException:
        for store in reversed(opened):
            await store.close()
        raise
    return RedisStateStores(config, code, mappings, checkpoints)
