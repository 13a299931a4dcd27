"""Which queues each async poller serves: the ``QueueAssignment`` port.

An assignment pushes queues to a poller: ``attach`` registers the poller's
``LeaseListener`` (``on_acquired`` starts a poll loop, ``on_lost`` stops it),
``detach`` stops the poller's work and hands its queues on. ``LeasedAssignment``
is the node's: one ``LeaseKeeper`` per poller in the lease group
``lease/async-queues/`` of the config store, so pollers of every node sharing
the store split the queues, a stopped poller's queues move at once and a
crashed one's after their leases expire. ``StaticAssignment`` hands fixed
queues to each poller (for tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from roost.leasing import KeeperConfig, LeaseKeeper, LeaseListener, LeaseTable, new_owner_id
from roost.leasing.keeper import ResourceSource
from roost.leasing.liveness import OwnerLiveness

log = logging.getLogger(__name__)

ASYNC_QUEUES_LEASE_PREFIX = "lease/async-queues/"


class QueueAssignment(Protocol):
    """Hands queues to pollers, and takes them back."""

    async def attach(self, poller_id: str, listener: LeaseListener) -> None:
        """Start handing ``poller_id`` queues: ``on_acquired``/``on_lost`` as they change."""

    async def detach(self, poller_id: str) -> None:
        """Stop the poller's work (``on_lost`` for each queue) and hand its queues on."""

    def progress(self, poller_id: str, queue: str) -> None:
        """The poller's work on ``queue`` advanced (after every receive, empty or not)."""


class StaticAssignment:
    """Queue i goes to poller i mod n, for a fixed list of pollers."""

    def __init__(self, queues: Sequence[str], poller_ids: Sequence[str]) -> None:
        if not poller_ids:
            raise ValueError("at least one poller is needed")
        self._split: dict[str, list[str]] = {poller: [] for poller in poller_ids}
        for index, queue in enumerate(queues):
            self._split[poller_ids[index % len(poller_ids)]].append(queue)
        self._listeners: dict[str, LeaseListener] = {}

    def queues_for(self, poller_id: str) -> list[str]:
        """The poller's fixed share (empty for an unknown poller)."""
        return list(self._split.get(poller_id, []))

    async def attach(self, poller_id: str, listener: LeaseListener) -> None:
        """Hand the poller its fixed share at once."""
        self._listeners[poller_id] = listener
        for queue in self.queues_for(poller_id):
            await listener.on_acquired(queue)

    async def detach(self, poller_id: str) -> None:
        """Take the poller's share back (nobody else gets it)."""
        listener = self._listeners.pop(poller_id, None)
        if listener is not None:
            for queue in self.queues_for(poller_id):
                await listener.on_lost(queue)

    def progress(self, poller_id: str, queue: str) -> None:
        """Nothing to report to: a static split never moves."""


class LeasedAssignment:
    """Queues leased to pollers: one ``LeaseKeeper`` per poller, the queues as resources.

    ``resources`` lists the queues to share right now (the shared ring, and
    express lanes as they appear). Every keeper of the node's pollers shares
    ``table`` (and so does every other node's), so a queue is worked on by one
    poller at a time, give or take the hand-over of a stalled holder. With
    ``heartbeats`` False the keepers only beat when ``keeper(id).tick()`` is
    called (tests on a fake clock).
    """

    def __init__(
        self,
        table: LeaseTable,
        resources: ResourceSource,
        config: KeeperConfig | None = None,
        *,
        heartbeats: bool = True,
        liveness: OwnerLiveness | None = None,
    ) -> None:
        self._table = table
        self._liveness = liveness
        self._heartbeats = heartbeats
        self._resources = resources
        self.config = config or KeeperConfig()
        self._keepers: dict[str, LeaseKeeper] = {}
        self._closing = False
        self._nudges: set[asyncio.Task[None]] = set()

    def keeper(self, poller_id: str) -> LeaseKeeper | None:
        """The keeper of ``poller_id`` while it is attached."""
        return self._keepers.get(poller_id)

    async def attach(self, poller_id: str, listener: LeaseListener) -> None:
        """Start a keeper for the poller; it takes a fair share at its first heartbeat."""
        if poller_id in self._keepers:
            raise RuntimeError(f"poller {poller_id} is already attached")
        owner = new_owner_id(f"async-{poller_id}")
        keeper = LeaseKeeper(
            self._table, owner, self._resources, listener, self.config, self._liveness
        )
        self._keepers[poller_id] = keeper
        if self._heartbeats:
            await keeper.start()

    async def detach(self, poller_id: str) -> None:
        """Stop the poller's keeper (its work stops, its leases are released), then
        let this node's other keepers take the queues now rather than at their
        next heartbeat."""
        keeper = self._keepers.pop(poller_id, None)
        if keeper is None:
            return
        await keeper.stop()
        if not self._closing:
            for other in list(self._keepers.values()):
                await other.tick()

    def progress(self, poller_id: str, queue: str) -> None:
        """Tell the poller's keeper (anti-entropy frees a queue that stops progressing)."""
        keeper = self._keepers.get(poller_id)
        if keeper is not None:
            keeper.progress(queue)

    def nudge(self) -> None:
        """Heartbeat every keeper soon (a new queue appeared): no wait for the next beat."""
        if self._closing:
            return
        for keeper in list(self._keepers.values()):
            task = asyncio.get_running_loop().create_task(self._tick(keeper))
            self._nudges.add(task)
            task.add_done_callback(self._nudges.discard)

    async def _tick(self, keeper: LeaseKeeper) -> None:
        try:
            await keeper.tick()
        except Exception:
            log.exception("async queue assignment: heartbeat of %s failed", keeper.owner)

    def begin_shutdown(self) -> None:
        """Every poller is about to stop: no hand-over between them."""
        self._closing = True
