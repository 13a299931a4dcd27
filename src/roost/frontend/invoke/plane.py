"""The sync invoke plane assembled: cache, counting, assignment, placement, host."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from roost.flow.circuit_breaker import BreakerBoard
from roost.flow.counting import CountingService
from roost.flow.scaling import ScalingLimiter
from roost.frontend.control.deps import ControlPlane
from roost.frontend.invoke.assignment import AssignmentService
from roost.frontend.invoke.executor import LocalExecutor
from roost.frontend.invoke.function_cache import FunctionCache
from roost.frontend.invoke.function_snapshot import FunctionSnapshot
from roost.frontend.invoke.handler import InvokeHandlers
from roost.frontend.invoke.placement import PlacementService
from roost.frontend.invoke.provisioner import ProvisionedConcurrencyManager
from roost.frontend.router import Handler
from roost.store.faults import FaultHook
from roost.store.ports import CodeStore, ConcurrencyCounters
from roost.worker.host import HostSettings, WorkerHost
from roost.worker.isolation import Isolation, detect
from roost.worker.log_store import LogStore
from roost.worker.sandbox_area import SandboxArea

log = logging.getLogger(__name__)


# The size most functions use (Lambda's defaults): pre-warmed from the start.
DEFAULT_POOL = (128, 512)


@dataclass(frozen=True)
class InvokeSettings:
    """Knobs of the sync invoke path."""

    account_concurrency: int = 1000
    keep_alive_s: float = 600.0
    lease_s: float = 7200.0
    memory_budget_mb: int = 8192
    sandbox: bool = True
    zygote: bool = True
    network: bool = True
    region: str = "us-east-1"
    prewarm_per_size: int = 2
    burst_new_environments: int = 1000
    burst_window_s: float = 10.0
    # Hard cap on function environments of the worker host (None: memory only).
    max_environments: int | None = None


class InvokePlane:
    """Owns the invoke path's long-running parts."""

    def __init__(
        self,
        settings: InvokeSettings,
        data_dir: Path,
        control: ControlPlane,
        code: CodeStore,
        host_breakers: BreakerBoard | None = None,
        host_faults: FaultHook | None = None,
        counters: ConcurrencyCounters | None = None,
    ) -> None:
        self.isolation: Isolation = detect(settings.sandbox)
        area = SandboxArea.for_data_dir(data_dir)
        area.prepare()
        host = WorkerHost(
            area,
            code,
            HostSettings(
                memory_budget_mb=settings.memory_budget_mb,
                prewarm_per_size=settings.prewarm_per_size,
                sandboxed=self.isolation.sandboxed,
                zygote=settings.zygote,
                network=settings.network,
                region=settings.region,
                max_environments=settings.max_environments,
            ),
        )
        self.cache = FunctionCache(
            control.functions,
            control.aliases,
            control.attachments,
            snapshot=FunctionSnapshot.in_data_dir(data_dir),
        )
        self.counting = CountingService(settings.account_concurrency, counters)
        self.placement = PlacementService(
            host,
            settings.lease_s,
            settings.keep_alive_s,
            breakers=host_breakers,
            faults=host_faults,
        )
        scaling = ScalingLimiter(settings.burst_new_environments, settings.burst_window_s)
        self.assignment = AssignmentService(self.placement, scaling)
        self.logs = LogStore(data_dir / "logs")
        self.provisioner = ProvisionedConcurrencyManager(control.store, self.cache, self.placement)
        self.cache.subscribe(self.provisioner.poke)
        self.handlers = InvokeHandlers(
            self.cache, self.counting, LocalExecutor(self.assignment), self.logs
        )
        self._preparing: set[asyncio.Task[None]] = set()
        self._stopped = False
        control.activator.subscribe(self._prepare_soon)

    def _prepare_soon(self, account_id: str, name: str) -> None:
        """A function just became ready: load its view and extract its code now,
        as Lambda prepares a function while it is Pending, so that its first invoke
        waits for neither."""
        if self._stopped:
            return
        task = asyncio.get_running_loop().create_task(self._prepare(account_id, name))
        self._preparing.add(task)
        task.add_done_callback(self._preparing.discard)

    async def _prepare(self, account_id: str, name: str) -> None:
        try:
            view = await self.cache.refresh(account_id, name)
            if view is not None:
                await self.placement.host.prefetch(view.record.latest)
        except Exception:
            log.exception("preparing %s/%s for invokes failed", account_id, name)

    def routes(self) -> dict[str, Handler]:
        """The invoke plane's operations."""
        return self.handlers.routes()

    def start(self) -> None:
        """Start background work (idle reaping)."""
        if not self.isolation.sandboxed:
            log.warning("%s", self.isolation.describe())
        self.placement.start()
        self.placement.host.prewarm.warm(DEFAULT_POOL)
        self.provisioner.start()

    async def stop(self) -> None:
        """Destroy every environment."""
        self._stopped = True
        for task in list(self._preparing):
            task.cancel()
        await asyncio.gather(*self._preparing, return_exceptions=True)
        await self.provisioner.stop()
        await self.placement.stop()
        await self.logs.close()
        await self.cache.flush()
        await self.counting.counters.close()
