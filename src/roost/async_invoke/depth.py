"""An in-memory estimate of each async queue's depth, cheap enough to read per event.

The router reads it on every event, so it must not touch the store: sends and
deletes made by this node adjust it at once, and ``refresh`` (run every few
seconds by ``run``) resets it from ``QueueStore.depth``, which corrects the
drift left by other nodes, crashes and redeliveries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from roost.loop_guard import LoopGuard
from roost.store.errors import StoreUnavailable
from roost.store.ports import QueueStore

log = logging.getLogger(__name__)

DEFAULT_REFRESH_S = 2.0


class DepthGauge:
    """Estimated messages per queue (visible, in flight and delayed together)."""

    def __init__(self, store: QueueStore, queues: Iterable[str]) -> None:
        self._store = store
        self._depths: dict[str, int] = {queue: 0 for queue in queues}

    def depth(self, queue: str) -> int:
        """The current estimate (0 for a queue never seen)."""
        return self._depths.get(queue, 0)

    def sent(self, queue: str, count: int = 1) -> None:
        """``count`` messages were sent to ``queue``."""
        self._depths[queue] = self._depths.get(queue, 0) + count

    def deleted(self, queue: str, count: int = 1) -> None:
        """``count`` messages of ``queue`` were deleted."""
        self._depths[queue] = max(0, self._depths.get(queue, 0) - count)

    def track(self, queue: str) -> None:
        """Refresh ``queue`` too from now on (e.g. an express lane)."""
        self._depths.setdefault(queue, 0)

    def forget(self, queue: str) -> None:
        """Stop refreshing ``queue`` (a reaped express lane)."""
        self._depths.pop(queue, None)

    async def refresh(self) -> None:
        """Replace every estimate by the store's count."""
        for queue in list(self._depths):
            total = (await self._store.depth(queue)).total
            if queue in self._depths:  # Not forgotten meanwhile.
                self._depths[queue] = total

    async def run(self, interval_s: float = DEFAULT_REFRESH_S) -> None:
        """Refresh every ``interval_s`` until cancelled; store outages and bugs are logged."""
        guard = LoopGuard("queue depth refresh", log)
        while True:
            with guard.turn():
                try:
                    await self.refresh()
                except StoreUnavailable:
                    log.warning("queue depths not refreshed: the queue store is unavailable")
            await asyncio.sleep(interval_s)
