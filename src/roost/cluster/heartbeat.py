"""``WorkerHeartbeat``: a worker host tells the cluster it is alive, and what it holds.

Every ``interval_s`` the worker role writes its ``WorkerRecord`` (capacity,
load, warm environments per version) through the ``WorkerRegistry``. A write
that fails (the store is down) is logged and retried at the next beat: the
host keeps serving the invokes sent to it meanwhile. On a clean stop the
record is removed, so frontends stop sending at once instead of waiting for
the heartbeat to go stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from roost.cancellation import cancel_and_wait
from roost.cluster.worker_registry import WorkerRecord, WorkerRegistry, version_id
from roost.loop_guard import LoopGuard
from roost.store.errors import StoreError
from roost.worker.host import WorkerHost

log = logging.getLogger(__name__)

# What an environment is reckoned to need when a host has no environment cap:
# Lambda's smallest memory size.
MIN_ENVIRONMENT_MB = 128


@dataclass(frozen=True)
class NodeIdentity:
    """Who a node is in its cluster."""

    node_id: str
    zone: str
    # Base URL other nodes reach this node's HTTP server at.
    url: str


def slots_of(host: WorkerHost) -> int:
    """Environments the host can hold: its cap, or what its memory budget fits.

    From the host's settings alone: ``has_free_slot`` asks on every invoke, and
    ``capacity()`` walks every environment.
    """
    settings = host.settings
    return settings.max_environments or settings.memory_budget_mb // MIN_ENVIRONMENT_MB


def has_free_slot(host: WorkerHost) -> bool:
    """Whether the host can take one more invoke without exceeding its slots."""
    return host.capacity().busy_environments < slots_of(host)


def describe(identity: NodeIdentity, host: WorkerHost, started_ms: int) -> WorkerRecord:
    """The host's record right now."""
    capacity = host.capacity()
    slots = slots_of(host)
    idle = {version_id(*key): count for key, count in host.idle_counts().items()}
    return WorkerRecord(
        node_id=identity.node_id,
        zone=identity.zone,
        url=identity.url,
        slots=slots,
        busy=capacity.busy_environments,
        memory_free_mb=capacity.memory_budget_mb - capacity.memory_in_use_mb,
        heartbeat_ms=int(time.time() * 1000),
        started_ms=started_ms,
        idle=idle,
    )


class WorkerHeartbeat:
    """Publishes this node's worker record every ``interval_s``."""

    def __init__(
        self,
        registry: WorkerRegistry,
        identity: NodeIdentity,
        host: WorkerHost,
        interval_s: float = 1.0,
    ) -> None:
        self._registry = registry
        self._identity = identity
        self._host = host
        self._interval_s = interval_s
        self._started_ms = int(time.time() * 1000)
        self._task: asyncio.Task[None] | None = None
        # Beats that failed to reach the store since start, for /metrics.
        self.failures = 0
        self._guard = LoopGuard("worker heartbeat", log)

    async def beat(self) -> None:
        """Publish the record once."""
        await self._registry.publish(describe(self._identity, self._host, self._started_ms))

    def start(self) -> None:
        """Beat now and every ``interval_s`` until stopped."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            # A host that stops beating is dropped by every frontend while it still serves.
            with self._guard.turn():
                try:
                    await self.beat()
                except StoreError as error:
                    self.failures += 1
                    log.warning("worker heartbeat failed (retrying): %s", error)
            await asyncio.sleep(self._interval_s)

    async def stop(self) -> None:
        """Stop beating and remove the record (best effort: the store may be down)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
        try:
            await self._registry.remove(self._identity.node_id)
        except StoreError as error:
            log.warning("could not remove the worker record: %s", error)
