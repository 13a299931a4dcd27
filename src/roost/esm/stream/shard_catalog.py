"""``ShardCatalog``: the shards of every stream mapping, as leasable work.

Shards, not whole stream mappings, are leased to pollers (the talk's
"assignment" of shards; the Kinesis Client Library's shard leases): the lease
group of a stream source type (``esm-kinesis``, ...) shares one resource per
shard to read now, ``{uuid}/{shard_id}``, so the pollers of every node split
a mapping's shards between them and each shard has one owner at a time.

The catalog is what the group's keepers share: for each mapping that should
run, the shards ``positions.plan_shards`` says to read now (a child appears
only once its parents' checkpoints are closed). Listing a stream costs an AWS
call, so listings are cached for ``refresh_s``; checkpoints are read fresh
each time (a local store read), so a child shows up at the first heartbeat
after its parent finished. A mapping with no shard to read (its stream
cannot be listed, or every shard is finished) still gets one resource,
``{uuid}/``: its holder runs the mapping without shards, which reports why
and settles the mapping's state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from roost.esm.mapping import EventSourceMapping
from roost.esm.positions import ShardAction, mapping_starting_position, plan_shards
from roost.esm.repository import MappingRepository
from roost.esm.shards import Shard
from roost.esm.sources import SourceType
from roost.esm.stream.source import StreamSource, StreamSourceFactory
from roost.store.ports import CheckpointStore

log = logging.getLogger(__name__)


def shard_resource(uuid: str, shard_id: str = "") -> str:
    """The lease resource of one shard of a mapping (``{uuid}/`` for none)."""
    return f"{uuid}/{shard_id}"


def parse_shard_resource(resource: str) -> tuple[str, str]:
    """``(uuid, shard_id)`` of a shard resource; the shard id is empty for ``{uuid}/``."""
    uuid, _, shard_id = resource.partition("/")
    return uuid, shard_id


@dataclass
class _Listing:
    source: StreamSource
    source_type: SourceType
    source_key: str
    shards: dict[str, Shard] | None = None
    listed_at: float = float("-inf")


class ShardCatalog:
    """Lists every stream mapping's shards to read now, for the shard lease groups."""

    def __init__(
        self,
        mappings: MappingRepository,
        checkpoints: CheckpointStore,
        factories: Mapping[SourceType, StreamSourceFactory],
        refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._mappings = mappings
        self._checkpoints = checkpoints
        self._factories = factories
        self._refresh_s = refresh_s
        self._clock = clock
        self._listings: dict[str, _Listing] = {}

    async def resources(self, source_type: SourceType) -> Collection[str]:
        """The shard resources of every mapping of ``source_type`` that should run."""
        found: list[str] = []
        running = await self._mappings.list_to_poll(source_type)
        for mapping in running:
            shards = await self._readable(mapping)
            found.extend(shard_resource(mapping.uuid, s) for s in shards or [""])
        await self._forget(source_type, {m.uuid for m in running})
        return found

    async def listed(self, mapping: EventSourceMapping) -> dict[str, Shard] | None:
        """The mapping's shards as last listed (listing now if the cache is stale)."""
        listing = await self._listing(mapping)
        if self._clock() - listing.listed_at >= self._refresh_s:
            try:
                if listing.shards is None:  # never listed, or the last try failed
                    await listing.source.open()
                listing.shards = {s.shard_id: s for s in await listing.source.list_shards()}
                listing.listed_at = self._clock()
            except Exception as error:
                log.warning("mapping %s: cannot list its shards: %s", mapping.uuid, error)
                listing.shards = None
                listing.listed_at = self._clock()
        return listing.shards

    async def _readable(self, mapping: EventSourceMapping) -> list[str]:
        shards = await self.listed(mapping)
        if not shards:
            return []
        checkpoints = {c.shard_id: c for c in await self._checkpoints.list(mapping.uuid)}
        plans = plan_shards(shards, checkpoints, mapping_starting_position(mapping))
        return [shard_id for shard_id, plan in plans.items() if plan.action is ShardAction.READ]

    async def _listing(self, mapping: EventSourceMapping) -> _Listing:
        listing = self._listings.get(mapping.uuid)
        # Keyed by what is read, not the revision: a result or setting written to
        # the mapping must not reopen its stream.
        if listing is not None and listing.source_key == mapping.source_key:
            return listing
        if listing is not None:
            await listing.source.close()
        factory = self._factories[mapping.source.type]
        source = factory.source(mapping)
        listing = _Listing(source, mapping.source.type, mapping.source_key)
        self._listings[mapping.uuid] = listing
        return listing

    async def _forget(self, source_type: SourceType, running: set[str]) -> None:
        """Close the sources of this type's mappings that no longer run."""
        for uuid in list(self._listings):
            listing = self._listings[uuid]
            if uuid in running or listing.source_type is not source_type:
                continue
            del self._listings[uuid]
            await listing.source.close()

    async def close(self) -> None:
        """Close every source the catalog opened."""
        listings, self._listings = list(self._listings.values()), {}
        for listing in listings:
            await listing.source.close()
