"""The Redis adapters of the store port: the cluster store (DESIGN.md decision 6).

Every node of a cluster opens the same Redis deployment; each port's adapter
keeps its keys under a prefix of its own (``{namespace}:config:...``,
``{namespace}:queue:...``), and multi-key changes run as Lua scripts so that
they are atomic on the server. ``connection.py`` turns a ``redis://`` (or
``redis+sentinel://``, ``sentinel.py``) URL into a client and Redis's
connection errors into ``StoreUnavailable``;
``open_redis_stores`` (``stores.py``) opens the config, code, mapping and
checkpoint adapters together. ``docs/cluster.md`` describes the key layout.
"""

from roost.store.redis.checkpoints import RedisCheckpointStore
from roost.store.redis.code import RedisCodeStore
from roost.store.redis.config import RedisConfigStore
from roost.store.redis.mappings import RedisMappingStore
from roost.store.redis.stores import RedisStateStores, open_redis_stores

__all__ = [
    "RedisCheckpointStore",
    "RedisCodeStore",
    "RedisConfigStore",
    "RedisMappingStore",
    "RedisStateStores",
    "open_redis_stores",
]
