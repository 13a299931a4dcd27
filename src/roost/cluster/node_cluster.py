"""``NodeCluster``: the cluster parts of one node, built from its roles.

* Every cluster node keeps a ``WorkerDirectory`` (the worker hosts, and the
  zones' health) and sends its invokes (sync, and those the pollers run)
  through a ``RemoteExecutor``: to a warm environment anywhere, else to the
  least-loaded host of a healthy zone, possibly itself.
* A node with the ``worker`` role also publishes its heartbeat and serves the
  internal invoke endpoint, and runs the invokes sent to itself in place.
* Every node's function cache hears of the changes made through the others
  (``InvalidationBus``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from roost.cluster.directory import WorkerDirectory
from roost.cluster.heartbeat import NodeIdentity, WorkerHeartbeat, has_free_slot
from roost.cluster.invalidation_bus import InvalidationBus
from roost.cluster.remote_executor import RemoteExecutor
from roost.cluster.settings import ClusterSettings, Role
from roost.cluster.worker_endpoint import WorkerEndpoint
from roost.cluster.worker_registry import WorkerRegistry
from roost.cluster.zones import ZoneHealth
from roost.config import RoostConfig
from roost.frontend.invoke.executor import LocalExecutor
from roost.frontend.invoke.plane import InvokePlane
from roost.store.embedded import Stores
from roost.store.errors import StoreError
from roost.store.ports import ConfigStore
from roost.store.redis.connection import RedisConnection

log = logging.getLogger(__name__)

# What the internal invoke requests are signed with, derived from the master key.
INTERNAL_SECRET_LABEL = "roost-cluster-internal-invoke"


@dataclass
class NodeCluster:
    """The directory, executor, and (worker role) heartbeat and endpoint of a node."""

    identity: NodeIdentity
    directory: WorkerDirectory
    executor: RemoteExecutor
    heartbeat: WorkerHeartbeat | None
    endpoint: WorkerEndpoint | None
    invalidations: InvalidationBus | None = None

    @classmethod
    def build(
        cls,
        settings: ClusterSettings,
        store: ConfigStore,
        invoke: InvokePlane,
        identity: NodeIdentity,
        secret: str,
    ) -> NodeCluster:
        """Wire the cluster parts into ``invoke`` (its handlers now run invokes remotely)."""
        registry = WorkerRegistry(store)
        directory = WorkerDirectory(
            registry, ZoneHealth(settings.zones), refresh_s=settings.directory_refresh_s
        )
        local = LocalExecutor(invoke.assignment)
        worker = settings.runs(Role.WORKER)
        host = invoke.placement.host
        executor = RemoteExecutor(
            directory,
            secret,
            node_id=identity.node_id,
            local=local if worker else None,
            local_has_room=(lambda: has_free_slot(host)) if worker else None,
        )
        invoke.handlers.executor = executor
        invalidations = None
        if settings.store_url is not None:
            connection = RedisConnection.from_url(settings.store_url, namespace=settings.namespace)
            invalidations = InvalidationBus(connection, identity.node_id, invoke.cache)
        heartbeat = endpoint = None
        if worker:
            heartbeat = WorkerHeartbeat(registry, identity, host, settings.heartbeat_s)
            endpoint = WorkerEndpoint(invoke.cache, local, secret)
        return cls(identity, directory, executor, heartbeat, endpoint, invalidations)

    async def start(self) -> None:
        """Beat once and read the directory once (best effort), then keep at both."""
        if self.invalidations is not None:
            await self.invalidations.start()
        if self.heartbeat is not None:
            try:
                await self.heartbeat.beat()
            except StoreError as error:
                log.warning("first worker heartbeat failed: %s", error)
            self.heartbeat.start()
        try:
            await self.directory.refresh()
        except StoreError as error:
            log.warning("first worker directory read failed: %s", error)
        self.directory.start()

    async def leave(self) -> None:
        """Stop advertising this worker host (its record is removed: no new invokes)."""
        if self.heartbeat is not None:
            await self.heartbeat.stop()
            self.heartbeat = None

    async def stop(self) -> None:
        """Leave, stop reading the directory and close connections to other nodes."""
        await self.leave()
        await self.directory.stop()
        await self.executor.close()
        if self.invalidations is not None:
            await self.invalidations.close()


async def join_cluster(
    config: RoostConfig, stores: Stores, invoke: InvokePlane
) -> NodeCluster | None:
    """This node's cluster parts, started (None for a single node)."""
    settings = config.cluster
    if not settings.enabled:
        return None
    node_id, url = settings.identity(config.port, config.endpoint_url)
    secret = stores.secrets.derive(INTERNAL_SECRET_LABEL)
    cluster = NodeCluster.build(
        settings, stores.config, invoke, NodeIdentity(node_id, settings.zone, url), secret
    )
    await cluster.start()
    log.info("joined the cluster as %s in zone %s (%s)", node_id, settings.zone, url)
    return cluster
