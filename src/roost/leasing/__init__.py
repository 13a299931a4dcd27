"""Leasing: dividing work among pollers with leases kept in the config store.

``LeaseTable`` stores leases (owner, expiry, revision) with conditional writes;
``LeaseKeeper`` is the generic half of a poller's work acquirer: it holds a fair
share of a changing set of resources, heartbeats, takes over expired leases,
hands leases over on shutdown, keeps them through a short store outage (sticky
leases with flexible timeouts) and frees leases whose holder stopped making
progress (anti-entropy). Pollers learn of changes through a ``LeaseListener``.
"""

from __future__ import annotations

from roost.leasing.keeper import (
    KeeperConfig,
    LeaseKeeper,
    LeaseListener,
    TickResult,
    new_owner_id,
)
from roost.leasing.lease import Lease
from roost.leasing.leases import LeaseLost, LeaseTable
from roost.leasing.shares import fair_share

__all__ = [
    "KeeperConfig",
    "Lease",
    "LeaseKeeper",
    "LeaseListener",
    "LeaseLost",
    "LeaseTable",
    "TickResult",
    "fair_share",
    "new_owner_id",
]
