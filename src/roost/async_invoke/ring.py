"""A consistent-hash ring over the shared async queues.

Each queue owns many points (virtual nodes) on a 64-bit ring; a key's
candidates are the first distinct queues met walking clockwise from the key's
hash. Adding or removing a queue moves only the keys next to its points, so a
change of the queue count reshuffles little of the traffic.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence

# Points per queue: enough for an even split of keys over a handful of queues.
DEFAULT_VIRTUAL_NODES = 64
# Keys whose candidates a ring remembers (every accepted event asks for its
# function's; a ring never changes, so an answer stays right). Past this many
# the memory starts over.
CANDIDATES_MEMO = 65536


def ring_hash(text: str) -> int:
    """A stable 64-bit hash (the same in every process, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


SHARED_PREFIX = "async-"


def is_shared_queue(queue: str) -> bool:
    """Whether ``queue`` is (or was) one of the ring's shared queues."""
    return queue.startswith(SHARED_PREFIX)


def shared_queue_names(count: int, prefix: str = SHARED_PREFIX) -> list[str]:
    """The names of ``count`` shared queues: ``async-000``, ``async-001``, ..."""
    if count < 1:
        raise ValueError(f"at least one shared queue is needed, not {count}")
    return [f"{prefix}{index:03d}" for index in range(count)]


class HashRing:
    """Queues placed on a ring; ``candidates`` picks a key's distinct neighbours."""

    def __init__(self, queues: Sequence[str], virtual_nodes: int = DEFAULT_VIRTUAL_NODES) -> None:
        if not queues:
            raise ValueError("a ring needs at least one queue")
        self.queues = tuple(dict.fromkeys(queues))
        points = sorted(
            (ring_hash(f"{queue}#{replica}"), queue)
            for queue in self.queues
            for replica in range(virtual_nodes)
        )
        self._hashes = [point for point, _ in points]
        self._owners = [queue for _, queue in points]
        self._memo: dict[tuple[str, int], tuple[str, ...]] = {}

    def candidates(self, key: str, count: int = 2) -> tuple[str, ...]:
        """The first ``count`` distinct queues clockwise from ``key`` (fewer if the
        ring has fewer queues), always in the same order for the same key."""
        known = self._memo.get((key, count))
        if known is None:
            if len(self._memo) >= CANDIDATES_MEMO:
                self._memo.clear()
            known = self._memo[key, count] = self._walk(key, count)
        return known

    def _walk(self, key: str, count: int) -> tuple[str, ...]:
        wanted = min(count, len(self.queues))
        found: list[str] = []
        start = bisect.bisect_left(self._hashes, ring_hash(key))
        for step in range(len(self._owners)):
            owner = self._owners[(start + step) % len(self._owners)]
            if owner not in found:
                found.append(owner)
                if len(found) == wanted:
                    break
        return tuple(found)
