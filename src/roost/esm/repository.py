"""Typed access to the mapping store: ``EventSourceMapping`` in, ``EventSourceMapping`` out.

The control plane, the activator and (later) the pollers all go through here.
Every write is a compare-and-set on the revision the mapping was read at, so a
poller settling a state and a user updating the mapping never overwrite each
other: the loser re-reads and decides again (``transition`` does this).
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
import time
from collections.abc import Callable

from roost.esm.mapping import EventSourceMapping
from roost.esm.sources import SourceType
from roost.esm.states import MappingState
from roost.store.errors import ConditionFailed
from roost.store.malformed import MalformedRecords
from roost.store.ports import EventSourceMappingStore, MappingRecord

log = logging.getLogger(__name__)

# How often ``transition`` re-reads and retries after losing a race.
MAX_TRANSITION_ATTEMPTS = 10

# A change computed from the current mapping; None: nothing to write.
Change = Callable[[EventSourceMapping], EventSourceMapping | None]


def _record(mapping: EventSourceMapping) -> MappingRecord:
    return MappingRecord(
        mapping.uuid,
        mapping.account_id,
        mapping.function_arn,
        mapping.source_key,
        mapping.to_document(),
    )


def _mapping(record: MappingRecord) -> EventSourceMapping:
    return EventSourceMapping.from_document(record.document, record.revision)


class MappingRepository:
    """Event source mappings over an ``EventSourceMappingStore``."""

    def __init__(
        self, store: EventSourceMappingStore, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self._clock = clock
        # Records that are not mappings, each logged once per revision, not at
        # every turn of the pollers' resource listing.
        self._malformed = MalformedRecords(
            log, "event source mapping %s is not readable and is not polled: %r"
        )

    def now_s(self) -> float:
        """The repository's clock (epoch seconds), for ``last_modified_s``."""
        return self._clock()

    async def get(self, uuid: str) -> EventSourceMapping | None:
        """The mapping with this UUID, or None."""
        record = await self.store.get(uuid)
        return None if record is None else _mapping(record)

    async def list(
        self,
        *,
        account_id: str | None = None,
        function_arn: str | None = None,
        source_key: str | None = None,
        start_after: str | None = None,
        limit: int | None = None,
    ) -> list[EventSourceMapping]:
        """Mappings matching every filter given, in UUID order."""
        records = await self.store.list(
            account_id=account_id,
            function_arn=function_arn,
            source_key=source_key,
            start_after=start_after,
            limit=limit,
        )
        return [_mapping(r) for r in records]

    async def list_to_poll(self, source_type: SourceType) -> builtins.list[EventSourceMapping]:
        """Mappings of one source type that pollers should be running now.

        Enabled ones, and those on their way to or through an update while enabled
        (``Creating``, ``Enabling``, ``Updating``): the pollers pick up the new
        settings and ``settle`` them.
        """
        running = {
            MappingState.ENABLED,
            MappingState.CREATING,
            MappingState.ENABLING,
            MappingState.UPDATING,
        }
        found = []
        for record in await self.store.list():
            # One unreadable document must not keep every other mapping from
            # its pollers (the lease keeper lists these at every heartbeat).
            key = f"{record.uuid} (revision {record.revision})"
            mapping = self._malformed.read(key, _mapping, record)
            if mapping is None:
                continue
            if mapping.source.type is source_type and mapping.enabled and mapping.state in running:
                found.append(mapping)
        return found

    async def create(self, mapping: EventSourceMapping) -> EventSourceMapping:
        """Store a new mapping; ``DuplicateMapping`` if its source and function are taken."""
        revision = await self.store.put(_record(mapping))
        return dataclasses.replace(mapping, revision=revision)

    async def save(self, mapping: EventSourceMapping) -> EventSourceMapping:
        """Write a changed mapping over the revision it was read at (``ConditionFailed``)."""
        if mapping.revision is None:
            raise ValueError("save() needs a mapping read from the store (it has no revision)")
        revision = await self.store.put(_record(mapping), expected_revision=mapping.revision)
        return dataclasses.replace(mapping, revision=revision)

    async def remove(self, mapping: EventSourceMapping) -> bool:
        """Delete the mapping if it still has the revision it was read at."""
        return await self.store.delete(mapping.uuid, expected_revision=mapping.revision)

    async def transition(self, uuid: str, change: Change) -> EventSourceMapping | None:
        """Read-modify-write with retries: apply ``change`` to the current mapping.

        ``change`` may return None (nothing to do) or raise to refuse. Returns the
        mapping as written (or as read, if unchanged); None if there is none.
        """
        for _ in range(MAX_TRANSITION_ATTEMPTS):
            current = await self.get(uuid)
            if current is None:
                return None
            changed = change(current)
            if changed is None:
                return current
            try:
                return await self.save(changed)
            except ConditionFailed:
                continue  # Someone else wrote it meanwhile: decide again on a fresh read.
        raise ConditionFailed(uuid)
