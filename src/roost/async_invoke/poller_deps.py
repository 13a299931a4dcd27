"""What an async poller is built from: its knobs and the parts it works with.

``PollerSettings`` are one poller's knobs; ``PollerDeps`` the parts every
poller of a node shares (the queue store, the assignment of queues, the invoke
path, retries and outcomes, and the flow-control parts that bound it). The
poller itself is ``poller.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from roost.async_invoke.assignment import QueueAssignment
from roost.async_invoke.backlog import BacklogRecovery
from roost.async_invoke.backlog_shards import BacklogShards
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.invoker import EventInvoker, RetryLimitsSource
from roost.async_invoke.metrics import AsyncMetrics
from roost.async_invoke.outcome import OutcomeSink
from roost.async_invoke.retry import RetryPolicy
from roost.flow.adaptive_semaphore import AdaptiveSemaphore
from roost.flow.backpressure import HostPressure
from roost.flow.drain_governor import DrainGovernor
from roost.flow.tenant_buckets import TenantBuckets
from roost.store.ports import QueueStore


@dataclass(frozen=True)
class PollerSettings:
    """Knobs of one poller."""

    concurrency: int = 64
    visibility_timeout_s: float = 30.0
    wait_s: float = 10.0


@dataclass(frozen=True)
class PollerDeps:
    """What a poller works with (shared by every poller of a node)."""

    queues: QueueStore
    assignment: QueueAssignment
    invoker: EventInvoker
    limits: RetryLimitsSource
    policy: RetryPolicy
    sink: OutcomeSink
    gauge: DepthGauge
    metrics: AsyncMetrics = field(default_factory=AsyncMetrics)
    # The node's bound on async events running at once, across its pollers
    # (narrowed while sync invokes run: ``flow.sync_first``); None: only each
    # poller's own ``concurrency``.
    gate: AdaptiveSemaphore | None = None
    # Per-tenant buckets (an event without its tenant's token is put back) and
    # the node's drain rate; None: not limited.
    tenants: TenantBuckets | None = None
    drain: DrainGovernor | None = None
    # The worker host's pressure (None: no backpressure).
    pressure: HostPressure | None = None
    # Fresh events first while a queue is in backlog; None: always oldest-first.
    backlog: BacklogRecovery | None = None
    # Dedicated queues of backlogged (function, qualifier) shards; None: none.
    shards: BacklogShards | None = None
