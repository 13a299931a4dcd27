"""``roost up``'s cluster flags: ``--store``, ``--counting-store``, ``--roles``, ``--zone``, ...

Each flag overrides its ``ROOST_*`` variable (``ClusterSettings.from_env``);
the settings are checked once both are merged, so a bad combination (roles
without a shared store) stops the start with a message.
"""

from __future__ import annotations

import argparse
import dataclasses

from roost.cluster.settings import parse_roles
from roost.config import RoostConfig


def add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    """The flags a cluster node starts with."""
    group = parser.add_argument_group("cluster (docs/cluster.md)")
    group.add_argument(
        "--store",
        metavar="URL",
        help="shared store of a cluster, redis://host:port/db (env ROOST_STORE; "
        "default: the embedded SQLite store in the data directory)",
    )
    group.add_argument(
        "--counting-store",
        metavar="URL",
        help="Redis for the counting service's counters (env ROOST_COUNTING_STORE; "
        "default: the --store Redis)",
    )
    group.add_argument(
        "--roles",
        help="roles this node runs, from frontend,async,pollers,worker "
        "(env ROOST_ROLES; default: all)",
    )
    group.add_argument("--zone", help="this node's zone label (env ROOST_ZONE; default: default)")
    group.add_argument(
        "--node-id", help="this node's id in the cluster (env ROOST_NODE_ID; default host:port)"
    )
    group.add_argument(
        "--advertise-url",
        metavar="URL",
        help="URL other nodes reach this node at (env ROOST_ADVERTISE_URL; "
        "default: the endpoint URL)",
    )


def with_cluster_flags(config: RoostConfig, args: argparse.Namespace) -> RoostConfig:
    """``config`` with the cluster flags given applied (``ValueError`` if they do not fit)."""
    changes: dict[str, object] = {}
    for flag, name in (
        ("store", "store_url"),
        ("counting_store", "counting_store_url"),
        ("zone", "zone"),
        ("node_id", "node_id"),
        ("advertise_url", "advertise_url"),
    ):
        value = getattr(args, flag, None)
        if value:
            changes[name] = value
    if getattr(args, "roles", None):
        changes["roles"] = parse_roles(args.roles)
    cluster = dataclasses.replace(config.cluster, **changes)  # type: ignore[arg-type]
    cluster.check()
    return dataclasses.replace(config, cluster=cluster)
