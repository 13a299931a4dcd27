"""``/metrics`` for variance reduction, the talk's first stability layer (docs/resilience.md).

"Batching where the path allows": the async queue store group-commits (many
sends, receives and deletes share one transaction and one fsync, up to
``ROOST_QUEUE_MAX_BATCH_OPS`` operations), so a burst costs a few fsyncs, not
one per event. These figures show how much it batched: transactions, the
operations in them, the transactions that waited for an fsync, the largest
batch so far and the bound. (ESM batching shows in ``roost_esm_*``: records
per batch are records over batches.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from roost.observability.prometheus import MetricFamily, MetricType
from roost.store.sqlite.group_commit import CommitStats


@dataclass(frozen=True)
class VarianceSource:
    """Where the batching figures are read: the queue store's group committer."""

    commits: Callable[[], CommitStats]
    max_batch_ops: int


def variance_families(source: VarianceSource) -> list[MetricFamily]:
    """The queue store's group commit, read now."""
    stats = source.commits()
    counter, gauge = MetricType.COUNTER, MetricType.GAUGE
    rows = [
        (
            "roost_queue_commit_transactions_total",
            counter,
            "Queue store transactions committed.",
            stats.transactions,
        ),
        (
            "roost_queue_commit_operations_total",
            counter,
            "Queue operations (send, receive, delete, visibility) in those transactions.",
            stats.operations,
        ),
        (
            "roost_queue_commit_fsyncs_total",
            counter,
            "Transactions that waited for an fsync (those holding a send).",
            stats.synced,
        ),
        (
            "roost_queue_commit_largest_batch",
            gauge,
            "Most operations in one transaction so far.",
            stats.largest_batch,
        ),
        (
            "roost_queue_commit_max_batch_ops",
            gauge,
            "Bound on operations in one transaction (ROOST_QUEUE_MAX_BATCH_OPS).",
            source.max_batch_ops,
        ),
    ]
    families = []
    for name, kind, help_text, value in rows:
        family = MetricFamily(name, kind, help_text)
        family.add(value)
        families.append(family)
    return families
