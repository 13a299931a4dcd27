"""``/metrics`` for backlog shards (``async_invoke/backlog_shards.py``, docs/resilience.md).

A (function, qualifier) whose backlog crossed ``ROOST_ASYNC_BACKLOG_SHARD_DEPTH``
has a queue of its own: these figures say which shards are open now (and the
queue each uses, since the queue's name is a hash), how many opened and were
reaped since the node started, and how many events pollers moved into each
shard's queue. The shard queues' depths are in ``roost_async_queue_*`` like
every other queue's.
"""

from __future__ import annotations

from roost.async_invoke.backlog_shards import BacklogShards
from roost.observability.prometheus import MetricFamily, MetricType


def shard_families(shards: BacklogShards) -> list[MetricFamily]:
    """Open shards, shards opened and reaped, events moved per shard, read now."""
    counter, gauge = MetricType.COUNTER, MetricType.GAUGE
    opened = shards.open_shards()
    count = MetricFamily(
        "roost_async_backlog_shards_open", gauge, "Backlog shards with a queue of their own now."
    )
    count.add(len(opened))
    queue = MetricFamily(
        "roost_async_backlog_shard_queue",
        gauge,
        "1 per open backlog shard, naming its queue (empty labels: adopted, key not seen yet).",
    )
    for shard in opened:
        key = shard.key
        queue.add(
            1,
            queue=shard.queue,
            account=key.account_id if key else "",
            function=key.function_name if key else "",
            qualifier=key.qualifier if key else "",
        )
    totals = MetricFamily(
        "roost_async_backlog_shards_opened", counter, "Backlog shard queues this node opened."
    )
    totals.add(shards.opened_total, "_total")
    reaped = MetricFamily(
        "roost_async_backlog_shards_reaped",
        counter,
        "Backlog shard queues closed, empty, their events back to the ring.",
    )
    reaped.add(shards.reaped_total, "_total")
    moved = MetricFamily(
        "roost_async_backlog_shard_events_moved",
        counter,
        "Events pollers moved from another queue into their backlog shard's queue.",
    )
    for key, events in sorted(shards.moved.items()):
        moved.add(
            events,
            "_total",
            account=key.account_id,
            function=key.function_name,
            qualifier=key.qualifier,
        )
    return [count, queue, totals, reaped, moved]
