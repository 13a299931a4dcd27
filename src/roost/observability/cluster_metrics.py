"""``/metrics`` of a cluster node (``roost.cluster``, docs/cluster.md).

What this node sees of the cluster: each zone's state (one series per state,
1 for the current one), its hosts and how many are missing; the live worker
hosts the directory would send to; invokes this node sent to other hosts,
ran for other nodes, and hosts it found unreachable; and, for a worker host,
the heartbeats that failed to reach the store; and, per zone, the slots that
would be left if that zone were lost (the capacity buffer).
"""

from __future__ import annotations

from collections.abc import Iterable

from roost.cluster.node_cluster import NodeCluster
from roost.cluster.worker_registry import WorkerRecord
from roost.cluster.zones import ZoneState
from roost.observability.prometheus import MetricFamily, MetricType


def cluster_families(cluster: NodeCluster) -> list[MetricFamily]:
    """The cluster figures, read now."""
    counter, gauge = MetricType.COUNTER, MetricType.GAUGE
    zones = cluster.directory.zones
    state = MetricFamily("roost_cluster_zone_state", gauge, "1 for the zone's current state.")
    hosts = MetricFamily("roost_cluster_zone_hosts", gauge, "Worker hosts of the zone, by status.")
    weight = MetricFamily(
        "roost_cluster_zone_weight", gauge, "Share of new work the zone gets (0: evacuated)."
    )
    for view in zones.views():
        for candidate in ZoneState:
            state.add(int(view.state is candidate), zone=view.zone, state=candidate.value)
        hosts.add(view.hosts - view.missing, zone=view.zone, status="live")
        hosts.add(view.missing, zone=view.zone, status="missing")
        weight.add(view.weight, zone=view.zone)
    headroom = MetricFamily(
        "roost_cluster_zone_loss_headroom",
        gauge,
        "Environment slots left free if the zone were lost now (negative: it would overload).",
    )
    for zone, spare in sorted(loss_headroom(cluster.directory.live).items()):
        headroom.add(spare, zone=zone)
    live = MetricFamily(
        "roost_cluster_worker_hosts", gauge, "Worker hosts invokes may be sent to now."
    )
    live.add(len(cluster.directory.live))
    moves = MetricFamily(
        "roost_cluster_zone_moves", counter, "Zones evacuated, and zones moved back, since start."
    )
    moves.add(zones.evacuations, "_total", kind="evacuated")
    moves.add(zones.returns, "_total", kind="returned")
    invokes = MetricFamily(
        "roost_cluster_invokes", counter, "Invokes sent to other hosts, and run for other nodes."
    )
    invokes.add(cluster.executor.forwarded, "_total", direction="sent")
    served = cluster.endpoint.served if cluster.endpoint is not None else 0
    invokes.add(served, "_total", direction="served")
    unreachable = MetricFamily(
        "roost_cluster_hosts_unreachable", counter, "Picks of a host that refused the connection."
    )
    unreachable.add(cluster.executor.unreachable, "_total")
    failures = MetricFamily(
        "roost_cluster_store_failures",
        counter,
        "Heartbeats and directory reads that failed to reach the store.",
    )
    beats = cluster.heartbeat.failures if cluster.heartbeat is not None else 0
    failures.add(beats, "_total", kind="heartbeat")
    failures.add(cluster.directory.refresh_failures, "_total", kind="directory")
    return [state, hosts, weight, headroom, live, moves, invokes, unreachable, failures]


def loss_headroom(records: Iterable[WorkerRecord]) -> dict[str, int]:
    """Per zone: the other zones' slots minus every busy environment.

    Capacity is planned with a buffer: with three zones, losing any one must
    leave room for the whole load. A zone whose figure is negative cannot be
    lost without throttling.
    """
    records = list(records)
    busy = sum(record.busy for record in records)
    slots: dict[str, int] = {}
    for record in records:
        slots[record.zone] = slots.get(record.zone, 0) + record.slots
    total = sum(slots.values())
    return {zone: total - own - busy for zone, own in slots.items()}
