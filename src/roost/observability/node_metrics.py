"""The node's ``/metrics``: async figures per function and per queue, and a few
cheap gauges of the sync plane, gathered when scraped.

Counters come from the in-memory registries the node owns (``AsyncMetrics``,
the counting service); queue depth and oldest age are read from the
``QueueStore`` at scrape time, a few indexed queries per queue, so they are
the store's truth rather than an estimate. A store that cannot answer does not
fail the scrape: ``roost_async_queue_store_up`` says 0 and the queue figures
are left out.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from roost.async_invoke.backlog import BacklogRecovery
from roost.async_invoke.backlog_shards import BacklogShards
from roost.async_invoke.metrics import (
    AsyncMetrics,
    DropReason,
    FunctionFigures,
    FunctionKey,
    RetryReason,
)
from roost.cluster.node_cluster import NodeCluster
from roost.esm.metrics import EsmMetrics, MappingKey, RunningFigures
from roost.flow.adaptive_semaphore import AdaptiveSemaphore
from roost.flow.backpressure import HostPressure
from roost.flow.circuit_breaker import BreakerBoards
from roost.flow.drain_governor import DrainGovernor
from roost.flow.sync_first import SyncFirst
from roost.flow.tenant_buckets import TenantBuckets
from roost.loop_guard import FAILURES, LoopFailures
from roost.observability.backpressure_metrics import backpressure_families
from roost.observability.capacity_metrics import CapacitySource, capacity_families
from roost.observability.cluster_metrics import cluster_families
from roost.observability.loop_metrics import loop_families
from roost.observability.prometheus import MetricFamily, MetricType, render
from roost.observability.shard_metrics import shard_families
from roost.observability.variance_metrics import VarianceSource, variance_families
from roost.store.errors import StoreUnavailable
from roost.store.ports import QueueStore

log = logging.getLogger(__name__)


class SyncFigures(Protocol):
    """What the counting service tells ``/metrics`` (``CountingService``)."""

    def in_use_by_function(self) -> dict[tuple[str, str], int]:
        """Invokes counted right now, by (account, function)."""

    def granted_by_function(self) -> dict[tuple[str, str], int]:
        """Invokes counted in since start, by (account, function)."""

    def throttled_by_function(self) -> dict[tuple[str, str, str], int]:
        """Throttles since start, by (account, function, reason)."""


@dataclass(frozen=True)
class AsyncSource:
    """The async plane's side: its counters, its queue store and shared queues."""

    metrics: AsyncMetrics
    queues: QueueStore
    queue_names: tuple[str, ...]
    # Sync first (flow.sync_first): whether the async plane is narrowed, and its
    # bound on events running at once (``running`` holds them).
    sync_first: SyncFirst | None = None
    running: AdaptiveSemaphore | None = None
    running_max: int = 0
    # Token buckets (flow.tenant_buckets, flow.drain_governor).
    tenants: TenantBuckets | None = None
    drain: DrainGovernor | None = None
    # Backlog recovery (async_invoke.backlog): queue modes and per-shard figures.
    backlog: BacklogRecovery | None = None
    # Backlog shards (async_invoke.backlog_shards): open shard queues, events moved.
    shards: BacklogShards | None = None


@dataclass(frozen=True)
class SyncSource:
    """The sync plane's side: counting, and the states of the worker's environments."""

    counting: SyncFigures
    environment_states: Callable[[], Iterable[str]]


@dataclass(frozen=True)
class EsmSource:
    """The event source mapping pollers' side: counters, and the mappings running now."""

    metrics: EsmMetrics
    running: Callable[[], dict[MappingKey, RunningFigures]]


def _family(name: str, kind: MetricType, help_text: str) -> MetricFamily:
    return MetricFamily(name, kind, help_text)


class NodeMetrics:
    """Renders the node's metrics in Prometheus's text format on demand."""

    def __init__(
        self,
        async_source: AsyncSource | None,
        sync_source: SyncSource | None,
        esm_source: EsmSource | None = None,
        capacity_source: CapacitySource | None = None,
        breakers: BreakerBoards | None = None,
        pressure: HostPressure | None = None,
        variance: VarianceSource | None = None,
        cluster: NodeCluster | None = None,
        loops: LoopFailures = FAILURES,
    ) -> None:
        self._async = async_source
        self._loops = loops
        self._cluster = cluster
        self._variance = variance
        self._pressure = pressure
        self._sync = sync_source
        self._esm = esm_source
        self._capacity = capacity_source
        self._breakers = breakers

    async def render(self) -> str:
        """The exposition text of everything, read now."""
        families: list[MetricFamily] = []
        if self._async is not None:
            families += _function_families(self._async.metrics.functions())
            families += await _queue_families(self._async)
            families += _flow_families(self._async)
            families += _bucket_families(self._async)
            if self._async.backlog is not None:
                families += backlog_families(self._async.backlog)
            if self._async.shards is not None:
                families += shard_families(self._async.shards)
        if self._sync is not None:
            families += _sync_families(self._sync)
        if self._esm is not None:
            families += _esm_families(self._esm)
        if self._capacity is not None:
            families += capacity_families(self._capacity)
        if self._breakers is not None:
            families += breaker_families(self._breakers)
        if self._pressure is not None:
            families += backpressure_families(self._pressure)
        if self._variance is not None:
            families += variance_families(self._variance)
        if self._cluster is not None:
            families += cluster_families(self._cluster)
        families += loop_families(self._loops)
        return render(families)


def breaker_families(boards: BreakerBoards) -> list[MetricFamily]:
    """Circuit breakers: state per target, fleet-degraded and opens per dependency kind."""
    state = _family(
        "roost_breaker_state",
        MetricType.GAUGE,
        "Circuit breaker state per target: 0 closed, 1 half-open, 2 open.",
    )
    degraded = _family(
        "roost_breaker_fleet_degraded",
        MetricType.GAUGE,
        "1 while a dependency kind has a fleet-wide fault (no target evicted, uniform backoff).",
    )
    opens = _family("roost_breaker_opens", MetricType.COUNTER, "Times a target's breaker opened.")
    for board in boards.all():
        for target, target_state in board.states().items():
            state.add(target_state.value, dependency=board.kind, target=target)
        degraded.add(1 if board.fleet_degraded else 0, dependency=board.kind)
        opens.add(board.opens_total, "_total", dependency=board.kind)
    return [state, degraded, opens]


def backlog_families(backlog: BacklogRecovery) -> list[MetricFamily]:
    """Backlog recovery: each queue's mode, each shard's queued events and oldest age."""
    gauge = MetricType.GAUGE
    mode = _family(
        "roost_async_backlog_mode", gauge, "1 while the queue is in backlog (fresh events first)."
    )
    lifo = _family("roost_async_backlog_lifo", gauge, "1 while receives take a share newest-first.")
    for queue, queue_mode in backlog.modes().items():
        mode.add(int(queue_mode), queue=queue)
        lifo.add(int(backlog.lifo(queue)), queue=queue)
    depth = _family(
        "roost_async_backlog_depth",
        gauge,
        "Queued async events per function and qualifier (this node's ledger).",
    )
    oldest = _family(
        "roost_async_backlog_oldest_age_seconds",
        gauge,
        "Age of the oldest queued async event per function and qualifier.",
    )
    for key, figures in backlog.ledger.figures().items():
        labels = {
            "account": key.account_id,
            "function": key.function_name,
            "qualifier": key.qualifier,
        }
        depth.add(figures.depth, **labels)
        oldest.add(figures.oldest_age_s, **labels)
    return [mode, lifo, depth, oldest]


def _function_families(functions: dict[FunctionKey, FunctionFigures]) -> list[MetricFamily]:
    """One family per async figure, a sample per function (and reason)."""
    counter, gauge = MetricType.COUNTER, MetricType.GAUGE
    accepted = _family(
        "roost_async_events_accepted_total", counter, "Async events made durable and answered 202."
    )
    queued = _family(
        "roost_async_events_queued",
        gauge,
        "Async events accepted and not yet finished (estimate since the node started).",
    )
    in_flight = _family("roost_async_events_in_flight", gauge, "Async events running now.")
    started = _family("roost_async_attempts_total", counter, "Attempts pollers started.")
    succeeded = _family(
        "roost_async_events_succeeded_total", counter, "Async events that ran without error."
    )
    retried = _family(
        "roost_async_events_retried_total",
        counter,
        "Async events to run again, by reason (function-error, throttle, system).",
    )
    dropped = _family(
        "roost_async_events_dropped_total",
        counter,
        "Async events given up, by reason (RetriesExhausted, EventAgeExceeded, FunctionDeleted).",
    )
    age = _family(
        "roost_async_event_age_seconds",
        MetricType.SUMMARY,
        "Age of async events when an attempt starts (AWS's AsyncEventAge).",
    )
    last_age = _family(
        "roost_async_event_age_last_seconds", gauge, "Age of the last async event started."
    )
    for key, figures in functions.items():
        labels = {"account": key.account_id, "function": key.function_name}
        accepted.add(figures.accepted, **labels)
        queued.add(figures.queued, **labels)
        in_flight.add(figures.in_flight, **labels)
        started.add(figures.started, **labels)
        succeeded.add(figures.succeeded, **labels)
        for reason in RetryReason:
            retried.add(figures.retried.get(reason, 0), **labels, reason=reason.value)
        for condition in DropReason:
            dropped.add(figures.dropped.get(condition, 0), **labels, reason=condition.value)
        age.add(figures.start_age_sum_s, "_sum", **labels)
        age.add(figures.started, "_count", **labels)
        last_age.add(figures.last_start_age_s, **labels)
    return [accepted, queued, in_flight, started, succeeded, retried, dropped, age, last_age]


async def _queue_families(source: AsyncSource) -> list[MetricFamily]:
    """Depth by state and oldest age per queue, read from the store now."""
    gauge = MetricType.GAUGE
    up = _family("roost_async_queue_store_up", gauge, "1 if the queue store answered this scrape.")
    depth = _family("roost_async_queue_depth", gauge, "Messages in the queue (all states).")
    visible = _family("roost_async_queue_visible", gauge, "Messages ready to be received.")
    hidden = _family(
        "roost_async_queue_in_flight",
        gauge,
        "Messages received and hidden (running or backing off).",
    )
    delayed = _family("roost_async_queue_delayed", gauge, "Messages sent with a delay (retries).")
    oldest = _family(
        "roost_async_queue_oldest_age_seconds", gauge, "Age of the oldest message (0 when empty)."
    )
    sent = _family(
        "roost_async_queue_sent_total", MetricType.COUNTER, "Messages this node sent to the queue."
    )
    sent_by_queue = source.metrics.sent_by_queue()
    try:
        names = sorted({*source.queue_names, *await source.queues.queues(), *sent_by_queue})
        for queue in names:
            counts = await source.queues.depth(queue)
            age_s = await source.queues.oldest_age_s(queue)
            depth.add(counts.total, queue=queue)
            visible.add(counts.visible, queue=queue)
            hidden.add(counts.in_flight, queue=queue)
            delayed.add(counts.delayed, queue=queue)
            oldest.add(age_s or 0.0, queue=queue)
            sent.add(sent_by_queue.get(queue, 0), queue=queue)
    except StoreUnavailable:
        log.warning("/metrics: the queue store is unavailable")
        up.add(0)
        return [up]
    up.add(1)
    return [up, depth, visible, hidden, delayed, oldest, sent]


def _flow_families(source: AsyncSource) -> list[MetricFamily]:
    """Sync first: whether the async plane keeps to its share, and what it runs."""
    if source.sync_first is None:
        return []
    gauge = MetricType.GAUGE
    narrowed = _family(
        "roost_async_sync_first_narrowed",
        gauge,
        "1 while sync invokes run and the async plane keeps to its share, else 0.",
    )
    narrowed.add(int(source.sync_first.sync_busy()))
    families = [narrowed]
    if source.running is not None:
        running = _family("roost_async_events_running", gauge, "Async events running now.")
        running.add(source.running.in_use)
        limit = _family(
            "roost_async_events_running_limit", gauge, "Async events allowed to run at once now."
        )
        limit.add(source.sync_first.limit(source.running_max))
        families += [running, limit]
    return families


def _bucket_families(source: AsyncSource) -> list[MetricFamily]:
    """The drain governor's rate, tokens and decisions; each tenant bucket's state."""
    gauge, counter = MetricType.GAUGE, MetricType.COUNTER
    families: list[MetricFamily] = []
    if source.drain is not None and source.drain.settings.enabled:
        figures = source.drain.figures()
        rate = _family("roost_async_drain_rate", gauge, "Async starts per second allowed now.")
        rate.add(figures.rate_per_s)
        tokens = _family("roost_async_drain_tokens", gauge, "Tokens in the async drain bucket.")
        tokens.add(figures.tokens)
        decisions = _family(
            "roost_async_drain_decisions_total", counter, "Drain governor decisions, by kind."
        )
        for decision, count in sorted(figures.decisions.items()):
            decisions.add(count, decision=decision.value)
        families += [rate, tokens, decisions]
    if source.tenants is not None:
        deferred = _family(
            "roost_async_tenant_deferred_total",
            counter,
            "Async events put back because their function's token bucket was empty.",
        )
        rate = _family("roost_async_tenant_rate", gauge, "A function's async starts per second.")
        tokens = _family("roost_async_tenant_tokens", gauge, "Tokens in a function's bucket.")
        for (account, function), tenant in source.tenants.figures().items():
            deferred.add(tenant.deferred, account=account, function=function)
            rate.add(tenant.rate_per_s, account=account, function=function)
            tokens.add(tenant.tokens, account=account, function=function)
        families += [deferred, rate, tokens]
    return families


def _sync_families(source: SyncSource) -> list[MetricFamily]:
    """Invokes, throttles and concurrency from counting; environments by state."""
    counting = source.counting
    invocations = _family(
        "roost_invocations_total",
        MetricType.COUNTER,
        "Invokes counted in (sync invokes and async attempts).",
    )
    for (account, function), count in sorted(counting.granted_by_function().items()):
        invocations.add(count, account=account, function=function)
    throttles = _family(
        "roost_throttles_total", MetricType.COUNTER, "Invokes throttled by counting, by reason."
    )
    for (account, function, reason), count in sorted(counting.throttled_by_function().items()):
        throttles.add(count, account=account, function=function, reason=reason)
    concurrency = _family("roost_concurrent_executions", MetricType.GAUGE, "Invokes running now.")
    for (account, function), count in sorted(counting.in_use_by_function().items()):
        concurrency.add(count, account=account, function=function)
    environments = _family(
        "roost_environments", MetricType.GAUGE, "Execution environments on this node, by state."
    )
    states = Counter(source.environment_states())
    for state in sorted(states):
        environments.add(states[state], state=state)
    return [invocations, throttles, concurrency, environments]


def _esm_families(source: EsmSource) -> list[MetricFamily]:
    """Per mapping: batches by verdict, records by fate, batches in flight, the target;
    per stream shard: iterator age and lag."""
    counter, gauge = MetricType.COUNTER, MetricType.GAUGE
    batches = _family(
        "roost_esm_batches_total", counter, "Batches a mapping invoked, by how the invoke went."
    )
    records = _family(
        "roost_esm_records_total",
        counter,
        "Records of a mapping: invoked, failed (to be tried again), filtered (no invoke).",
    )
    for key, figures in sorted(source.metrics.mappings().items(), key=lambda kv: kv[0].uuid):
        labels = {"mapping": key.uuid, "function": key.function_arn}
        for verdict, count in sorted(figures.batches.items(), key=lambda kv: kv[0].value):
            batches.add(count, **labels, outcome=verdict.value)
        records.add(figures.records_invoked, **labels, fate="invoked")
        records.add(figures.records_failed, **labels, fate="failed")
        records.add(figures.records_filtered, **labels, fate="filtered")
        records.add(figures.records_given_up, **labels, fate="given_up")
    in_flight = _family(
        "roost_esm_batches_in_flight", gauge, "Batches of a mapping being invoked now."
    )
    target = _family(
        "roost_esm_concurrency_target", gauge, "Concurrent batches the autoscaler wants now."
    )
    age = _family(
        "roost_esm_iterator_age_seconds",
        gauge,
        "Per stream shard: now minus the arrival of the newest record invoked (0: caught up).",
    )
    behind = _family(
        "roost_esm_shard_millis_behind_latest",
        gauge,
        "Per stream shard: how far the last read was behind the shard's tip (Kinesis).",
    )
    lag = _family(
        "roost_esm_shard_records_behind",
        gauge,
        "Per stream shard: records left after the last read (a Kafka partition's lag).",
    )
    for key, running in sorted(source.running().items(), key=lambda kv: kv[0].uuid):
        labels = {"mapping": key.uuid, "function": key.function_arn}
        in_flight.add(running.in_flight, **labels)
        target.add(running.target_batches, **labels)
        for shard in running.shards:
            age.add(round(shard.iterator_age_s, 3), **labels, shard=shard.shard_id)
            if shard.millis_behind_latest is not None:
                behind.add(shard.millis_behind_latest, **labels, shard=shard.shard_id)
            if shard.records_behind is not None:
                lag.add(shard.records_behind, **labels, shard=shard.shard_id)
    return [batches, records, in_flight, target, age, behind, lag]
