"""The work acquirer: which mappings a poller runs, leased from the leasing component.

One lease group per source type (``lease/esm-sqs/``, ``esm-kinesis``, ...),
so a mapping only goes to a poller that can handle its source (the talk's
capability-aware dispatch). A poller handling several source types runs one
``LeaseKeeper`` per group; the group's resources are the UUIDs of the SQS
mappings that should run now (``MappingRepository.list_to_poll``), and for
stream sources the shards to read now (``{uuid}/{shard}``, from the
``ShardCatalog``), so one mapping's shards spread over pollers. The keepers do the
rest (see ``leasing/keeper.py``): heartbeats, a fair share between every
poller of every node sharing the store, hand-over on ``stop()``, take-over of
a crashed poller's mappings once their leases expire, and anti-entropy: a
mapping whose poller reports no ``progress`` for ``stall_after_s`` is given up
by its holder, or revoked by another keeper, and re-assigned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable

from roost.esm.repository import MappingRepository
from roost.esm.sources import SourceType
from roost.esm.stream.shard_catalog import ShardCatalog, shard_resource
from roost.leasing import KeeperConfig, Lease, LeaseKeeper, LeaseListener, LeaseTable, new_owner_id
from roost.leasing.keeper import ResourceSource
from roost.leasing.liveness import OwnerLiveness
from roost.store.ports import ConfigStore

log = logging.getLogger(__name__)


def lease_group(source_type: SourceType) -> str:
    """The lease group of one source type's mappings (``esm-sqs``)."""
    return f"esm-{source_type.value}"


def lease_table(
    store: ConfigStore, source_type: SourceType, clock: Callable[[], float] = time.time
) -> LeaseTable:
    """The group's lease table: ``lease/esm-{type}/`` in the config store."""
    return LeaseTable(store, f"lease/{lease_group(source_type)}/", clock=clock)


async def live_lease(table: LeaseTable, uuid: str) -> Lease | None:
    """The unexpired lease some poller holds on mapping ``uuid`` or one of its shards."""
    work = table.scoped("work")
    now_ms = table.now_ms()
    lease = await work.get(uuid)
    if lease is not None and not lease.is_expired(now_ms):
        return lease
    shard_leases = await work.list(shard_resource(uuid))
    return next((lease for lease in shard_leases if not lease.is_expired(now_ms)), None)


class WorkAcquirer:
    """Leases one poller's mappings, for every source type it handles."""

    def __init__(
        self,
        store: ConfigStore,
        poller_id: str,
        source_types: Iterable[SourceType],
        mappings: MappingRepository,
        listener: LeaseListener,
        config: KeeperConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        liveness: OwnerLiveness | None = None,
        catalog: ShardCatalog | None = None,
    ) -> None:
        self._mappings = mappings
        self._catalog = catalog
        self.keepers: dict[SourceType, LeaseKeeper] = {}
        for source_type in source_types:
            table = lease_table(store, source_type, clock)
            owner = new_owner_id(f"esm-{poller_id}")
            self.keepers[source_type] = LeaseKeeper(
                table, owner, self._resources_of(source_type), listener, config, liveness
            )
        self._nudges: set[asyncio.Task[None]] = set()
        self._stopping = False

    def _resources_of(self, source_type: SourceType) -> ResourceSource:
        catalog = self._catalog

        async def resources() -> Collection[str]:
            if catalog is not None and source_type.is_positioned:
                return await catalog.resources(source_type)
            return [m.uuid for m in await self._mappings.list_to_poll(source_type)]

        return resources

    @property
    def held(self) -> frozenset[str]:
        """Mappings whose lease this poller holds."""
        return frozenset().union(*(keeper.held for keeper in self.keepers.values()))

    def holds(self, uuid: str) -> bool:
        """Whether the poller may still commit for mapping ``uuid``."""
        return any(keeper.holds(uuid) for keeper in self.keepers.values())

    def progress(self, uuid: str) -> None:
        """Work on mapping ``uuid`` advanced (after every poll, empty or not)."""
        for keeper in self.keepers.values():
            keeper.progress(uuid)

    async def start(self) -> None:
        """Heartbeat every group in the background."""
        for keeper in self.keepers.values():
            await keeper.start()

    async def tick(self) -> None:
        """One heartbeat of every group now (tests; nudges)."""
        for keeper in self.keepers.values():
            await keeper.tick()

    def nudge(self) -> None:
        """Mappings changed: heartbeat soon instead of at the next beat."""
        if self._stopping:
            return
        task = asyncio.get_running_loop().create_task(self._nudge())
        self._nudges.add(task)
        task.add_done_callback(self._nudges.discard)

    async def _nudge(self) -> None:
        try:
            await self.tick()
        except Exception:
            log.exception("work acquirer: heartbeat failed")

    async def stop(self) -> None:
        """Stop the work and release every lease, so other pollers take it at once."""
        self._stopping = True
        if self._nudges:
            await asyncio.gather(*self._nudges, return_exceptions=True)
        for keeper in self.keepers.values():
            await keeper.stop()
