"""The async data plane assembled: ring, depth gauge, router, front end and pollers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from roost.async_invoke.assignment import QueueAssignment, StaticAssignment
from roost.async_invoke.depth import DEFAULT_REFRESH_S, DepthGauge
from roost.async_invoke.frontend import AsyncFrontEnd
from roost.async_invoke.invoker import EventInvokeConfigLimits, SyncPathInvoker
from roost.async_invoke.metrics import AsyncMetrics
from roost.async_invoke.outcome import LoggingOutcomeSink, OutcomeSink
from roost.async_invoke.poller import AsyncPoller, PollerDeps, PollerSettings
from roost.async_invoke.retry import RetryPolicy
from roost.async_invoke.ring import HashRing, shared_queue_names
from roost.async_invoke.router import QueueRouter
from roost.frontend.invoke.handler import InvokeHandlers
from roost.frontend.router import Handler
from roost.functions.attachments import AttachmentRepository
from roost.store.ports import QueueStore


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


class AsyncPlane:
    """Owns the async plane's parts; ``start`` the pollers, ``stop`` them."""

    def __init__(
        self,
        settings: AsyncSettings,
        queues: QueueStore,
        invoke: InvokeHandlers,
        attachments: AttachmentRepository,
        sink_for: Callable[[AsyncFrontEnd], OutcomeSink] | None = None,
        assignment: QueueAssignment | None = None,
        metrics: AsyncMetrics | None = None,
    ) -> None:
        """``sink_for`` makes the outcome sink from the front end (destinations that
        are functions are async invokes themselves); outcomes are logged without it.
        ``metrics`` receives the plane's counters (the node's registry)."""
        self.settings = settings
        self.metrics = metrics or AsyncMetrics()
        names = shared_queue_names(settings.shared_queues)
        self.queue_names = tuple(names)
        self.gauge = DepthGauge(queues, names)
        self.router = QueueRouter(HashRing(names), self.gauge)
        self.frontend = AsyncFrontEnd(invoke, self.router, queues, self.gauge, metrics=self.metrics)
        poller_ids = [f"poller-{index}" for index in range(settings.pollers)]
        deps = PollerDeps(
            queues=queues,
            assignment=assignment or StaticAssignment(names, poller_ids),
            invoker=SyncPathInvoker(invoke),
            limits=EventInvokeConfigLimits(attachments),
            policy=RetryPolicy(settings.retry_scale),
            sink=sink_for(self.frontend) if sink_for is not None else LoggingOutcomeSink(),
            gauge=self.gauge,
            metrics=self.metrics,
        )
        poller_settings = PollerSettings(
            concurrency=settings.poller_concurrency,
            visibility_timeout_s=settings.visibility_timeout_s,
            wait_s=settings.poll_wait_s,
        )
        self.pollers = [AsyncPoller(pid, deps, poller_settings) for pid in poller_ids]
        self._gauge_task: asyncio.Task[None] | None = None

    def routes(self) -> dict[str, Handler]:
        """The async plane's operations."""
        return self.frontend.routes()

    def start(self) -> None:
        """Start the depth refresh and the pollers (on the running loop)."""
        loop = asyncio.get_running_loop()
        self._gauge_task = loop.create_task(self.gauge.run(self.settings.depth_refresh_s))
        for poller in self.pollers:
            poller.start()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop the pollers (events still running get ``grace_s``; whatever is not
        deleted comes back from the queue store after a restart)."""
        await asyncio.gather(*(poller.stop(grace_s) for poller in self.pollers))
        if self._gauge_task is not None:
            self._gauge_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gauge_task
