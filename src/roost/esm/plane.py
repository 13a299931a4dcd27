"""The event source mapping plane of a node: its pollers and the mapping reconciler.

``EsmPlane`` owns ``pollers`` ``EsmPoller``s (each leasing mappings of the
source types the node has connectors for) and a reconciler that carries out
what the control plane asked, so mappings move through their states only as
fast as pollers really start and stop them (the activator runs with
``auto_settle=False``; its ``on_change`` hook nudges the reconciler):

- an enabled mapping (``Creating``/``Enabling``/``Updating``) is settled to
  ``Enabled`` by the poller that runs it, once its runner started; an update
  of a running mapping reaches the runner at the next pass (new batch size,
  window, filters, scaling) and is then settled;
- a mapping that should not run (``Disabling``, ``Deleting``, or created
  disabled) is settled to ``Disabled`` (or removed) once no poller holds a
  live lease on it: the work acquirers drop it at the pass that sees it, and
  their runners stop before the lease is released.

Mappings of source types no poller of the node handles are settled at once,
as the activator did before the pollers existed. A deleted stream mapping's
shard checkpoints are deleted with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from roost.cancellation import cancel_and_wait, within
from roost.esm.autoscaler import ScalingSettings
from roost.esm.connector import ConnectorFactory
from roost.esm.lifecycle import settle_mapping
from roost.esm.mapping import EventSourceMapping
from roost.esm.metrics import EsmMetrics, MappingKey, RunningFigures
from roost.esm.orchestrator import BatchInvoker, InvokeOrchestrator
from roost.esm.poller import EsmPoller, PollerConfig, StreamParts, should_run
from roost.esm.repository import MappingRepository
from roost.esm.runner import RunnerSettings
from roost.esm.sources import SourceType
from roost.esm.states import MappingState
from roost.esm.stream.shard_catalog import ShardCatalog
from roost.esm.stream.source import StreamSourceFactory
from roost.esm.work_acquirer import lease_table, live_lease
from roost.flow.backpressure import HostPressure
from roost.flow.circuit_breaker import BreakerBoard
from roost.leasing import KeeperConfig
from roost.leasing.liveness import OwnerLiveness
from roost.store.errors import StoreUnavailable
from roost.store.ports import ConfigStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EsmSettings:
    """Knobs of the ESM plane."""

    pollers: int = 1
    lease_ttl_s: float = 10.0
    stall_after_s: float = 120.0
    reconcile_interval_s: float = 1.0
    stop_grace_s: float = 5.0
    max_in_flight_batches: int = 1000
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    runner: RunnerSettings = field(default_factory=RunnerSettings)

    def keeper_config(self) -> KeeperConfig:
        """Every poller's lease timing."""
        return KeeperConfig(ttl_s=self.lease_ttl_s, stall_after_s=self.stall_after_s)


class EsmPlane:
    """Pollers plus reconciler; ``start`` and ``stop`` with the node."""

    def __init__(
        self,
        settings: EsmSettings,
        mappings: MappingRepository,
        lease_store: ConfigStore,
        invoker: BatchInvoker,
        factories: Mapping[SourceType, ConnectorFactory | StreamSourceFactory],
        liveness: OwnerLiveness | None = None,
        metrics: EsmMetrics | None = None,
        streams: StreamParts | None = None,
        breakers: BreakerBoard | None = None,
        pressure: HostPressure | None = None,
    ) -> None:
        """``breakers``: the ``event_source`` board every runner reports its polls
        to; ``pressure``: the worker host's backpressure (both optional)."""
        self.settings = settings
        self.metrics = metrics or EsmMetrics()
        self._mappings = mappings
        self._lease_store = lease_store
        self._factories = dict(factories)
        if streams is not None and streams.catalog is None:
            stream_factories = {
                t: f for t, f in self._factories.items() if isinstance(f, StreamSourceFactory)
            }
            catalog = ShardCatalog(
                mappings, streams.checkpoints, stream_factories, streams.settings.shard_refresh_s
            )
            streams = dataclasses.replace(streams, catalog=catalog)
        config = PollerConfig(
            lease_store=lease_store,
            mappings=mappings,
            factories=self._factories,
            orchestrator=InvokeOrchestrator(invoker),
            keeper=settings.keeper_config(),
            scaling=settings.scaling,
            runner=settings.runner,
            max_in_flight_batches=settings.max_in_flight_batches,
            stop_grace_s=settings.stop_grace_s,
            liveness=liveness,
            metrics=self.metrics,
            streams=streams,
            breakers=breakers,
            pressure=pressure,
        )
        self._streams = streams
        self.pollers = [EsmPoller(f"esm-poller-{i}", config) for i in range(settings.pollers)]
        self._tables = {t: lease_table(lease_store, t) for t in self._factories}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._to_run: frozenset[str] = frozenset()

    def running(self) -> dict[MappingKey, RunningFigures]:
        """Every mapping running on this node's pollers, with its gauges now."""
        return {
            runner.key: runner.running()
            for poller in self.pollers
            for runner in list(poller.runners.values())
        }

    @property
    def handled(self) -> frozenset[SourceType]:
        """Source types this node's pollers run."""
        return frozenset(self._factories) if self.pollers else frozenset()

    def nudge(self, uuid: str | None = None) -> None:
        """A mapping changed (the activator's hook): reconcile now."""
        self._wake.set()

    async def start(self) -> None:
        """Start the pollers and the reconciler."""
        for poller in self.pollers:
            await poller.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="esm-reconciler")

    async def stop(self) -> None:
        """Stop reconciling, then every poller (runners drain, leases are released)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
        await asyncio.gather(*(poller.stop() for poller in self.pollers), return_exceptions=True)
        if self._streams is not None and self._streams.catalog is not None:
            await self._streams.catalog.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except StoreUnavailable as error:
                # Static stability: running mappings keep running on what the
                # pollers hold; nothing is started or stopped until the store is back.
                log.warning("esm reconciler: pass skipped, %s", error)
            except Exception:
                log.exception("esm reconciler: pass failed")
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), self.settings.reconcile_interval_s)
            self._wake.clear()

    async def reconcile(self) -> None:
        """One pass over every mapping (see the module docstring)."""
        mappings = await self._mappings.list()
        to_run = frozenset(m.uuid for m in mappings if should_run(m) and self._handles(m))
        if to_run != self._to_run:
            self._to_run = to_run
            for poller in self.pollers:
                await poller.acquirer.tick()  # take new mappings, drop stopped ones now
        for mapping in mappings:
            if not self._handles(mapping):
                if mapping.state.transitional:
                    await settle_mapping(self._mappings, mapping.uuid)
            elif should_run(mapping):
                for poller in self.pollers:
                    await poller.apply(mapping)
            elif mapping.state.transitional:
                await self._settle_stopped(mapping)

    def _handles(self, mapping: EventSourceMapping) -> bool:
        return mapping.source.type in self.handled

    async def _settle_stopped(self, mapping: EventSourceMapping) -> None:
        """Settle a mapping that should not run, once nobody runs it."""
        table = self._tables[mapping.source.type]
        if await live_lease(table, mapping.uuid) is not None:
            return  # its poller stops it at its next heartbeat; settled on a later pass
        if mapping.state is MappingState.DELETING and self._streams is not None:
            # A mapping made again later starts from its StartingPosition, as on AWS.
            await self._streams.checkpoints.delete_mapping(mapping.uuid)
        await settle_mapping(self._mappings, mapping.uuid)
