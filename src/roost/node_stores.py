"""Which stores a node opens: the embedded SQLite store, or a cluster's shared Redis.

A node with ``--store redis://...`` opens every port on that Redis, and its
counting service's counters there too (or on ``--counting-store``), so one
account limit holds across the cluster; otherwise everything lives under its
data directory and the counters in memory.
"""

from __future__ import annotations

from roost.auth.secrets import SecretBox
from roost.config import RoostConfig
from roost.store.embedded import Stores
from roost.store.faults import FaultSwitch
from roost.store.ports import ConcurrencyCounters
from roost.store.redis.connection import RedisConnection
from roost.store.redis.counters import RedisConcurrencyCounters
from roost.store.shared import open_shared_stores


def secret_box(config: RoostConfig) -> SecretBox:
    """The box sealing account secrets: the shared master key file, or the data dir's."""
    if config.master_key_file is not None:
        return SecretBox(config.master_key_file)
    return SecretBox.in_data_dir(config.data_dir)


async def open_node_stores(config: RoostConfig, faults: FaultSwitch | None) -> Stores:
    """The node's stores, embedded or shared."""
    cluster = config.cluster
    if cluster.store_url is not None:
        return await open_shared_stores(
            cluster.store_url, cluster.namespace, secret_box(config), faults
        )
    return await Stores.open(
        config.data_dir,
        faults,
        queue_max_batch_ops=config.queue_max_batch_ops,
        secrets=secret_box(config),
    )


def open_counters(config: RoostConfig) -> ConcurrencyCounters | None:
    """The counting service's shared counters (None: in memory, a single node)."""
    cluster = config.cluster
    url = cluster.counting_store_url or cluster.store_url
    if url is None:
        return None
    # Leases lapse by themselves and are never read after a failover's loss,
    # so counting never waits for replicas, whatever the URL asks of the store.
    connection = RedisConnection.from_url(url, namespace=cluster.namespace, wait_for_replicas=False)
    return RedisConcurrencyCounters(connection)
