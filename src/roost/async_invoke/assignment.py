"""Which queues each async poller serves: the ``QueueAssignment`` port.

A static split for now (``StaticAssignment``); the leasing component replaces
it with leases that move a stopped poller's queues to another. Pollers ask
again every few seconds, so an assignment may change while they run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class QueueAssignment(Protocol):
    """Hands queues to pollers."""

    def queues_for(self, poller_id: str) -> list[str]:
        """The queues ``poller_id`` should poll now (may change between calls)."""


class StaticAssignment:
    """Queue i goes to poller i mod n, for a fixed list of pollers."""

    def __init__(self, queues: Sequence[str], poller_ids: Sequence[str]) -> None:
        if not poller_ids:
            raise ValueError("at least one poller is needed")
        self._split: dict[str, list[str]] = {poller: [] for poller in poller_ids}
        for index, queue in enumerate(queues):
            self._split[poller_ids[index % len(poller_ids)]].append(queue)

    def queues_for(self, poller_id: str) -> list[str]:
        """The poller's fixed share (empty for an unknown poller)."""
        return list(self._split.get(poller_id, []))
