"""``/metrics`` for the node's forever loops: unexpected failures by loop kind."""

from __future__ import annotations

from roost.loop_guard import LoopFailures
from roost.observability.prometheus import MetricFamily, MetricType


def loop_families(tally: LoopFailures) -> list[MetricFamily]:
    """``roost_loop_failures_total{loop=...}``: turns of a loop that raised unexpectedly
    (logged, and the loop went on; see ``loop_guard``)."""
    failures = MetricFamily(
        "roost_loop_failures_total",
        MetricType.COUNTER,
        "Turns of a background loop that failed unexpectedly (the loop went on).",
    )
    for kind, count in sorted(tally.by_kind().items()):
        failures.add(count, loop=kind)
    return [failures]
