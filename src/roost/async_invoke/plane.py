"""The async data plane assembled: ring, depth gauge, express lane, backlog shards,
router, front end, and pollers whose queues are leased to them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from roost.async_invoke.assignment import (
    ASYNC_QUEUES_LEASE_PREFIX,
    LeasedAssignment,
    QueueAssignment,
)
from roost.async_invoke.backlog import BacklogRecovery, BacklogSettings, OrderPreference
from roost.async_invoke.backlog_ledger import BacklogLedger, LedgerSink
from roost.async_invoke.backlog_shards import BacklogShards, ShardSettings, shard_queues_to_poll
from roost.async_invoke.depth import DEFAULT_REFRESH_S, DepthGauge
from roost.async_invoke.express import (
    DEFAULT_REAP_INTERVAL_S,
    ExpressSettings,
    RateExpressLane,
    queues_to_poll,
)
from roost.async_invoke.frontend import AsyncFrontEnd
from roost.async_invoke.invoker import EventInvokeConfigLimits, SyncPathInvoker
from roost.async_invoke.metrics import AsyncMetrics
from roost.async_invoke.outcome import LoggingOutcomeSink, OutcomeSink
from roost.async_invoke.poller import AsyncPoller
from roost.async_invoke.poller_deps import PollerDeps, PollerSettings
from roost.async_invoke.retry import RetryPolicy
from roost.async_invoke.ring import HashRing, shared_queue_names
from roost.async_invoke.router import QueueRouter
from roost.flow.adaptive_semaphore import AdaptiveSemaphore
from roost.flow.backpressure import HostPressure, PressureState
from roost.flow.drain_governor import DrainGovernor, DrainSettings, NodeView
from roost.flow.tenant_buckets import ConcurrencySource, TenantBuckets, TenantSizing
from roost.frontend.invoke.handler import InvokeHandlers
from roost.frontend.router import Handler
from roost.functions.attachments import EventInvokeConfigSource
from roost.leasing import KeeperConfig, LeaseTable
from roost.leasing.liveness import OwnerLiveness
from roost.store.memory import MemoryConfigStore
from roost.store.ports import ConfigStore, QueueStore


@dataclass(frozen=True)
class AsyncSettings:
    """Knobs of the async plane."""

    shared_queues: int = 8
    pollers: int = 2
    poller_concurrency: int = 64
    retry_scale: float = 1.0
    visibility_timeout_s: float = 30.0
    poll_wait_s: float = 10.0
    depth_refresh_s: float = DEFAULT_REFRESH_S
    # A poller's queue leases: a crashed poller's queues move after lease_ttl_s;
    # a queue whose poller reports no progress for stall_after_s is re-assigned.
    lease_ttl_s: float = 10.0
    stall_after_s: float = 60.0
    express: ExpressSettings = field(default_factory=ExpressSettings)
    express_reap_interval_s: float = DEFAULT_REAP_INTERVAL_S
    # Flow control (flow.tenant_buckets, flow.drain_governor): per-tenant buckets
    # (None: off) and the drain rate's governor.
    tenants: TenantSizing | None = field(default_factory=TenantSizing)
    drain: DrainSettings = field(default_factory=DrainSettings)
    # Backlog recovery (async_invoke.backlog): fresh events first in a backlog.
    backlog: BacklogSettings = field(default_factory=BacklogSettings)
    # Backlog shards (async_invoke.backlog_shards): a deep (function, qualifier)
    # backlog gets a queue of its own.
    shards: ShardSettings = field(default_factory=ShardSettings)

    def keeper_config(self) -> KeeperConfig:
        """The timing of every poller's lease keeper."""
        return KeeperConfig(ttl_s=self.lease_ttl_s, stall_after_s=self.stall_after_s)


class AsyncPlane:
    """Owns the async plane's parts; ``start`` the pollers, ``stop`` them."""

    def __init__(
        self,
        settings: AsyncSettings,
        queues: QueueStore,
        invoke: InvokeHandlers,
        configs: EventInvokeConfigSource,
        sink_for: Callable[[AsyncFrontEnd], OutcomeSink] | None = None,
        assignment: QueueAssignment | None = None,
        lease_store: ConfigStore | None = None,
        metrics: AsyncMetrics | None = None,
        limit: Callable[[int], int] | None = None,
        liveness: OwnerLiveness | None = None,
        concurrency: ConcurrencySource | None = None,
        sync_busy: Callable[[], bool] | None = None,
        pressure: HostPressure | None = None,
        order: OrderPreference | None = None,
    ) -> None:
        """``sink_for`` makes the outcome sink from the front end (destinations that
        are functions are async invokes themselves); outcomes are logged without it.
        Queue leases live in ``lease_store`` (the node's config store, shared by
        every node), in memory when None; ``assignment`` replaces them (tests).
        ``metrics`` receives the plane's counters (the node's registry). ``limit``
        narrows the bound on events running at once across the pollers while the
        node needs it (``flow.sync_first``). ``liveness`` frees a crashed poller's
        queue leases at once instead of at their expiry. ``concurrency`` sizes the
        tenant buckets (none without it); ``sync_busy`` is part of the drain
        governor's view of the node, and so is ``pressure`` (the worker host's
        backpressure, which also holds the pollers' receives back). ``order`` says
        which functions opted out of LIFO backlog recovery (none without it)."""
        self.settings = settings
        self._queues = queues
        self.metrics = metrics or AsyncMetrics()
        self._intake(invoke, lease_store, liveness, order)
        self._flow(limit, concurrency, sync_busy, pressure)
        sink = sink_for(self.frontend) if sink_for is not None else LoggingOutcomeSink()
        self.pollers = self._pollers(
            PollerDeps(
                queues=queues,
                assignment=assignment or self.leases,
                invoker=SyncPathInvoker(invoke),
                limits=EventInvokeConfigLimits(configs),
                policy=RetryPolicy(settings.retry_scale),
                sink=LedgerSink(sink, self.ledger),
                gauge=self.gauge,
                metrics=self.metrics,
                gate=self.running,
                tenants=self.tenants,
                drain=self.drain if settings.drain.enabled else None,
                pressure=pressure,
                backlog=self.backlog,
                shards=self.shards,
            )
        )
        self._tasks: list[asyncio.Task[None]] = []

    def _intake(
        self,
        invoke: InvokeHandlers,
        lease_store: ConfigStore | None,
        liveness: OwnerLiveness | None,
        order: OrderPreference | None,
    ) -> None:
        """The parts an event meets on its way in: the ring and its depth gauge, the
        queue leases, express lanes, backlog ledger and shards, the router and the
        front end."""
        names = shared_queue_names(self.settings.shared_queues)
        self.queue_names = tuple(names)
        self.gauge = DepthGauge(self._queues, names)
        self.leases = LeasedAssignment(
            LeaseTable(lease_store or MemoryConfigStore(), ASYNC_QUEUES_LEASE_PREFIX),
            self.queues_to_poll,
            self.settings.keeper_config(),
            liveness=liveness,
        )
        self.express = RateExpressLane(
            self.settings.express, self.gauge, on_new_lane=self.leases.nudge
        )
        self.ledger = BacklogLedger(lambda: int(time.time() * 1000))
        self.shards = BacklogShards(
            self.settings.shards,
            self.ledger,
            self.gauge,
            on_open=self.leases.nudge,
            metrics=self.metrics,
        )
        self.router = QueueRouter(HashRing(names), self.gauge, self.express, self.shards)
        self.backlog = BacklogRecovery(self.settings.backlog, self.ledger, order)
        self.frontend = AsyncFrontEnd(
            invoke,
            self.router,
            self._queues,
            self.gauge,
            metrics=self.metrics,
            on_accepted=self.ledger.add,
        )

    def _flow(
        self,
        limit: Callable[[int], int] | None,
        concurrency: ConcurrencySource | None,
        sync_busy: Callable[[], bool] | None,
        pressure: HostPressure | None,
    ) -> None:
        """The drain's flow control: the bound on events running at once, the tenant
        buckets and the drain governor."""
        settings = self.settings
        self.running_max = settings.pollers * settings.poller_concurrency
        narrow, running_max = limit, self.running_max
        self.running = (
            AdaptiveSemaphore(lambda: narrow(running_max)) if narrow is not None else None
        )
        self.tenants = (
            TenantBuckets(concurrency, settings.tenants)
            if concurrency is not None and settings.tenants is not None
            else None
        )
        self.pressure = pressure
        self.drain = self._governor(settings.drain, limit, sync_busy)

    def _pollers(self, deps: PollerDeps) -> list[AsyncPoller]:
        """``settings.pollers`` pollers sharing ``deps``."""
        settings = self.settings
        poller_settings = PollerSettings(
            concurrency=settings.poller_concurrency,
            visibility_timeout_s=settings.visibility_timeout_s,
            wait_s=settings.poll_wait_s,
        )
        return [
            AsyncPoller(f"poller-{index}", deps, poller_settings)
            for index in range(settings.pollers)
        ]

    def _governor(
        self,
        settings: DrainSettings,
        limit: Callable[[int], int] | None,
        sync_busy: Callable[[], bool] | None,
    ) -> DrainGovernor:
        """The drain governor, watching sync traffic and the async slots in use."""
        running, running_max, pressure = self.running, self.running_max, self.pressure
        view = NodeView(
            sync_busy or (lambda: False),
            lambda: running.in_use if running is not None else 0,
            lambda: limit(running_max) if limit is not None else running_max,
            lambda: pressure.state if pressure is not None else PressureState.NORMAL,
        )
        return DrainGovernor(settings, view)

    async def queues_to_poll(self) -> list[str]:
        """The queues the pollers lease: the ring's, the express lanes' and the
        backlog shards'."""
        lanes = await queues_to_poll(self._queues, self.router.ring.queues, self.express)
        return sorted({*lanes, *await shard_queues_to_poll(self._queues, self.shards)})

    def routes(self) -> dict[str, Handler]:
        """The async plane's operations."""
        return self.frontend.routes()

    def start(self) -> None:
        """Start the depth refresh, the lane and shard reapers and the pollers (on the
        running loop)."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.gauge.run(self.settings.depth_refresh_s)),
            loop.create_task(self.express.run(self._queues, self.settings.express_reap_interval_s)),
            loop.create_task(self.backlog.run(self._queues, self.queues_to_poll, self.gauge.depth)),
            loop.create_task(self.shards.run(self._queues)),
        ]
        self.drain.start()
        for poller in self.pollers:
            poller.start()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop the pollers (events still running get ``grace_s``; whatever is not
        deleted comes back from the queue store after a restart)."""
        self.leases.begin_shutdown()
        await asyncio.gather(*(poller.stop(grace_s) for poller in self.pollers))
        await self.drain.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
