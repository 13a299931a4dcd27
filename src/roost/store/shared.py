"""``open_shared_stores``: a cluster node's ``Stores``, every port on one shared Redis.

The config, code, queue, mapping and checkpoint adapters all open on the
``--store`` URL under the cluster's namespace. Account secrets stay sealed
with the master key (``ROOST_MASTER_KEY_FILE``), which every node holds and
the store never sees. With a ``FaultSwitch`` the config, mapping and queue
stores obey it, as on the embedded store.
"""

from __future__ import annotations

from roost.auth.secrets import SecretBox
from roost.store.embedded import Stores
from roost.store.faults import FaultSwitch, FaultyConfigStore, FaultyMappingStore, FaultyQueueStore
from roost.store.ports import ConfigStore, EventSourceMappingStore, QueueStore
from roost.store.redis.queues import RedisQueueStore
from roost.store.redis.send_coalescer import DEFAULT_MAX_BATCH_MESSAGES
from roost.store.redis.stores import open_redis_stores
from roost.store.sqlite.group_commit import CommitStats


async def open_shared_stores(
    url: str, namespace: str, secrets: SecretBox, faults: FaultSwitch | None = None
) -> Stores:
    """Open every port's Redis adapter on ``url``; ``StoreUnavailable`` if it does not answer."""
    state = await open_redis_stores(url, namespace=namespace)
    try:
        queues = await RedisQueueStore.open(url, namespace=namespace)
    except BaseException:
        await state.close()
        raise

    def batching() -> CommitStats:
        # The send coalescer is the Redis queue's group commit: one script
        # call (and one fsync) for every send that arrived meanwhile.
        stats = queues.stats
        return CommitStats(
            transactions=stats.calls,
            operations=stats.sends,
            largest_batch=stats.largest_call,
            synced=stats.calls,
        )

    config: ConfigStore = state.config
    queue_store: QueueStore = queues
    mappings: EventSourceMappingStore = state.mappings
    if faults is not None:
        config = FaultyConfigStore(config, faults)
        queue_store = FaultyQueueStore(queue_store, faults)
        mappings = FaultyMappingStore(mappings, faults)
    return Stores(
        config,
        state.code,
        secrets,
        queue_store,
        mappings,
        state.checkpoints,
        batching,
        DEFAULT_MAX_BATCH_MESSAGES,
    )
