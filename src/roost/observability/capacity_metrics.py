"""``/metrics`` for capacity controls and admission control (docs/resilience.md).

Every hard cap is shown beside what is in use of it and the refusals it made:
the planes' admission (slots, waiting line, max wait), the account's unreserved
pool and each function's reserved concurrency (the counting service), and the
worker host's environment cap and memory budget. Counting's own throttles stay
in ``roost_throttles_total`` (``node_metrics``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from roost.flow.admission import AdmissionFigures, RejectReason
from roost.observability.prometheus import MetricFamily, MetricType
from roost.worker.host import HostCapacity


class CountingCaps(Protocol):
    """The caps the counting service enforces (``CountingService``)."""

    @property
    def account_limit(self) -> int:
        """The account concurrency limit."""

    def reserved_by_function(self) -> dict[tuple[str, str], int]:
        """Reserved concurrency by (account, function)."""

    def unreserved_by_account(self) -> dict[str, tuple[int, int]]:
        """The unreserved pool by account: (cap, in use now)."""


@dataclass(frozen=True)
class CapacitySource:
    """Where the caps are read: admission per plane, counting, the worker host."""

    admission: Mapping[str, Callable[[], AdmissionFigures]]
    counting: CountingCaps
    host: Callable[[], HostCapacity]


def capacity_families(source: CapacitySource) -> list[MetricFamily]:
    """Admission, concurrency caps and worker host caps, read now."""
    return (
        _admission_families(source.admission)
        + _counting_families(source.counting)
        + _host_families(source.host())
    )


def _admission_families(
    planes: Mapping[str, Callable[[], AdmissionFigures]],
) -> list[MetricFamily]:
    gauge, counter = MetricType.GAUGE, MetricType.COUNTER
    cap = MetricFamily("roost_admission_max_in_flight", gauge, "Requests a plane serves at once.")
    line = MetricFamily(
        "roost_admission_max_waiting", gauge, "Longest waiting line a plane allows (bounded only)."
    )
    max_wait = MetricFamily(
        "roost_admission_max_wait_seconds", gauge, "Longest a request may wait in line."
    )
    in_flight = MetricFamily("roost_admission_in_flight", gauge, "Requests being served now.")
    waiting = MetricFamily("roost_admission_waiting", gauge, "Requests waiting in line now.")
    admitted = MetricFamily("roost_admission_admitted_total", counter, "Requests admitted.")
    rejected = MetricFamily(
        "roost_admission_rejected_total",
        counter,
        "Requests refused with 429 by admission, by reason (line_full, wait_exceeded).",
    )
    waited = MetricFamily(
        "roost_admission_wait_seconds",
        MetricType.SUMMARY,
        "Time admitted requests spent in line (those that had to wait).",
    )
    wait_max = MetricFamily(
        "roost_admission_wait_max_seconds", gauge, "Longest wait of an admitted request."
    )
    for plane, read in sorted(planes.items()):
        figures = read()
        cap.add(figures.max_in_flight, plane=plane)
        if figures.max_waiting is not None:
            line.add(figures.max_waiting, plane=plane)
        if figures.max_wait_s is not None:
            max_wait.add(figures.max_wait_s, plane=plane)
        in_flight.add(figures.in_flight, plane=plane)
        waiting.add(figures.waiting, plane=plane)
        admitted.add(figures.admitted, plane=plane)
        for reason in RejectReason:
            rejected.add(figures.rejected.get(reason, 0), plane=plane, reason=reason.value)
        waited.add(round(figures.wait_sum_s, 6), "_sum", plane=plane)
        waited.add(figures.waited, "_count", plane=plane)
        wait_max.add(round(figures.wait_max_s, 6), plane=plane)
    return [cap, line, max_wait, in_flight, waiting, admitted, rejected, waited, wait_max]


def _counting_families(counting: CountingCaps) -> list[MetricFamily]:
    gauge = MetricType.GAUGE
    account = MetricFamily(
        "roost_account_concurrency_limit", gauge, "Concurrent executions allowed per account."
    )
    account.add(counting.account_limit)
    pool = MetricFamily(
        "roost_unreserved_concurrency_limit",
        gauge,
        "An account's concurrency left to functions without a reservation.",
    )
    pool_in_use = MetricFamily(
        "roost_unreserved_concurrent_executions", gauge, "Invokes drawing from that pool now."
    )
    for account_id, (limit, in_use) in sorted(counting.unreserved_by_account().items()):
        pool.add(limit, account=account_id)
        pool_in_use.add(in_use, account=account_id)
    reserved = MetricFamily(
        "roost_reserved_concurrency_limit", gauge, "A function's reserved concurrency (its cap)."
    )
    for (account_id, function), limit in sorted(counting.reserved_by_function().items()):
        reserved.add(limit, account=account_id, function=function)
    return [account, pool, pool_in_use, reserved]


def _host_families(host: HostCapacity) -> list[MetricFamily]:
    gauge = MetricType.GAUGE
    cap = MetricFamily(
        "roost_worker_max_environments",
        gauge,
        "Cap on environments serving functions on this host (absent: memory only).",
    )
    if host.max_environments is not None:
        cap.add(host.max_environments)
    used = MetricFamily(
        "roost_worker_function_environments",
        gauge,
        "Environments serving functions on this host (busy, idle or starting).",
    )
    used.add(host.function_environments)
    budget = MetricFamily("roost_worker_memory_budget_mb", gauge, "The host's memory budget.")
    budget.add(host.memory_budget_mb)
    memory = MetricFamily(
        "roost_worker_memory_in_use_mb", gauge, "Memory of the host's environments, pooled too."
    )
    memory.add(host.memory_in_use_mb)
    refused = MetricFamily(
        "roost_worker_refusals_total",
        MetricType.COUNTER,
        "New environments refused (the invoke got a 429), by cap (environments, memory).",
    )
    for reason, count in sorted(host.refused.items()):
        refused.add(count, reason=reason)
    return [cap, used, budget, memory, refused]
