"""How many resources one keeper should hold, and which ones.

Pure functions, so the balancing rules are testable without a store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def fair_share(resources: int, live_owners: int) -> int:
    """``ceil(resources / live_owners)``: enough that the owners together cover everything."""
    if resources <= 0:
        return 0
    owners = max(1, live_owners)
    return -(-resources // owners)


def affinity(owner: str, resource: str) -> int:
    """A stable pseudo-random score of ``resource`` for ``owner`` (rendezvous hashing).

    Each owner tries resources in its own order of affinity, so keepers racing
    for free leases mostly reach for different ones, and an owner keeps the
    same resources across rebalances where it can.
    """
    digest = hashlib.blake2b(f"{owner}\0{resource}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def by_affinity(owner: str, resources: Iterable[str]) -> list[str]:
    """``resources`` in ``owner``'s order of preference, most preferred first."""
    return sorted(resources, key=lambda resource: (-affinity(owner, resource), resource))


def surplus(owner: str, held: Iterable[str], share: int) -> list[str]:
    """Which of ``held`` to give up to come down to ``share``: the least preferred."""
    ranked = by_affinity(owner, held)
    return ranked[max(0, share) :]
