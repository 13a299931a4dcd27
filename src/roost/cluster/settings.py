"""``ClusterSettings``: how a node joins a cluster (``roost up --store redis://...``).

A node with no ``store_url`` is the embedded single node (SQLite under its data
directory) and none of this applies. With a ``redis://`` store it is a cluster
node: it runs the ``roles`` it is given, carries a ``zone`` label, and meets
the other nodes in the store. Every node of one cluster must share the master
key file (``ROOST_MASTER_KEY_FILE``): it opens the account secrets the store
holds, and the nodes' internal invoke requests are signed with a key derived
from it.
"""

from __future__ import annotations

import enum
import os
import socket
from dataclasses import dataclass, field

from roost.api.model import Plane
from roost.cluster.zones import ZoneSettings
from roost.store.redis.replica_acks import take_replica_acks
from roost.store.redis.sentinel import is_sentinel_url, parse_sentinel_url


class Role(enum.StrEnum):
    """The talk's services, as roles a node runs (DESIGN.md decision 7)."""

    # The control API and sync invokes (counting, then a worker host).
    FRONTEND = "frontend"
    # Async invokes accepted into the durable queues.
    ASYNC = "async"
    # Async queue pollers and event source mapping pollers.
    POLLERS = "pollers"
    # Execution environments, serving invokes other nodes send.
    WORKER = "worker"


ALL_ROLES = frozenset(Role)

# One server (TLS or not, or a local socket), or a Sentinel-managed primary.
STORE_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://")


def check_store_url(url: str) -> None:
    """Refuse a store URL no Redis adapter can open (``ValueError`` saying why)."""
    if not url.startswith(STORE_SCHEMES):
        schemes = ", ".join(STORE_SCHEMES)
        raise ValueError(f"--store must be a Redis URL ({schemes}), got {url!r}")
    # Malformed Sentinel addresses or replica options fail here, at start-up,
    # rather than at the first store call.
    stripped, _ = take_replica_acks(url)
    if is_sentinel_url(stripped):
        parse_sentinel_url(stripped)


def parse_roles(text: str) -> frozenset[Role]:
    """``frontend,async,pollers,worker`` (any subset, at least one) as roles."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError("a node needs at least one role")
    try:
        return frozenset(Role(name) for name in names)
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise ValueError(f"unknown role in {text!r} (known: {known})") from None


@dataclass(frozen=True)
class ClusterSettings:
    """A node's place in a cluster (all defaults: the embedded single node)."""

    # ``redis://host:port/db`` (or ``redis+sentinel://...``, docs/cluster.md)
    # of the shared store; None: embedded SQLite.
    store_url: str | None = None
    # Where the counting service's counters live (None: the store's Redis).
    # Counters are leases that lapse, nothing to persist: a Redis without
    # ``appendfsync always`` keeps each check off the fsync path.
    counting_store_url: str | None = None
    # Key prefix of this cluster in Redis (two clusters may share a server).
    namespace: str = "roost"
    roles: frozenset[Role] = ALL_ROLES
    zone: str = "default"
    # Unique in the cluster; None: ``hostname:port``.
    node_id: str | None = None
    # Base URL other nodes reach this node at; None: its endpoint URL.
    advertise_url: str | None = None
    heartbeat_s: float = 1.0
    directory_refresh_s: float = 0.5
    zones: ZoneSettings = field(default_factory=ZoneSettings)

    @property
    def enabled(self) -> bool:
        """Whether this node is a cluster node (a shared Redis store)."""
        return self.store_url is not None

    def runs(self, role: Role) -> bool:
        """Whether the node runs ``role`` (a single node runs them all)."""
        return not self.enabled or role in self.roles

    def served_planes(self) -> frozenset[Plane] | None:
        """The API planes the node's roles answer (None: every one)."""
        if not self.enabled:
            return None
        planes = set()
        if Role.FRONTEND in self.roles:
            planes |= {Plane.CONTROL, Plane.INVOKE}
        if Role.ASYNC in self.roles:
            planes.add(Plane.ASYNC)
        return frozenset(planes)

    def identity(self, port: int, endpoint_url: str) -> tuple[str, str]:
        """This node's id and advertised URL."""
        node_id = self.node_id or f"{socket.gethostname()}:{port}"
        return node_id, self.advertise_url or endpoint_url

    @classmethod
    def from_env(cls) -> ClusterSettings:
        """The ``ROOST_STORE``, ``ROOST_ROLES``, ``ROOST_ZONE``, ... variables, where set."""
        values: dict[str, object] = {}
        text = {
            "ROOST_STORE": "store_url",
            "ROOST_COUNTING_STORE": "counting_store_url",
            "ROOST_REDIS_NAMESPACE": "namespace",
            "ROOST_ZONE": "zone",
            "ROOST_NODE_ID": "node_id",
            "ROOST_ADVERTISE_URL": "advertise_url",
        }
        for variable, name in text.items():
            if os.environ.get(variable):
                values[name] = os.environ[variable]
        if os.environ.get("ROOST_ROLES"):
            values["roles"] = parse_roles(os.environ["ROOST_ROLES"])
        for variable, name in (
            ("ROOST_HEARTBEAT_S", "heartbeat_s"),
            ("ROOST_DIRECTORY_REFRESH_S", "directory_refresh_s"),
        ):
            if os.environ.get(variable):
                values[name] = float(os.environ[variable])
        zone_values = {
            name: float(os.environ[f"ROOST_ZONE_{name.upper()}"])
            for name in ("missing_after_s", "unhealthy_fraction", "confirm_s", "observe_s")
            if os.environ.get(f"ROOST_ZONE_{name.upper()}")
        }
        values["zones"] = ZoneSettings(**zone_values)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings a cluster node cannot start with."""
        for url in (self.store_url, self.counting_store_url):
            if url is not None:
                check_store_url(url)
        if not self.enabled and self.roles != ALL_ROLES:
            raise ValueError("--roles needs a shared store (--store redis://...)")
        if min(self.heartbeat_s, self.directory_refresh_s) <= 0:
            raise ValueError("heartbeat and directory refresh intervals must be positive")
