"""``EsmPoller``: one poller worker of event source mappings.

It is the talk's poller: a work acquirer leases it mappings of the source
types it handles; for each one it holds, it runs a ``MappingRunner`` (source
connector, buffer, invoke orchestrator, error handler, checkpoint manager,
autoscaler), under one load shedder and one health checker for the whole
poller. It is the work acquirer's ``LeaseListener``: ``on_acquired`` starts a
runner and then settles the mapping (``Creating``/``Enabling``/``Updating`` ->
``Enabled``: now it really runs), ``on_lost`` stops it before the lease goes.
``apply`` hands a runner its mapping's new settings (an update), and settles.

Queue sources (SQS) get a ``MappingRunner`` over the connector their
``ConnectorFactory`` makes; stream sources (Kinesis, DynamoDB Streams, Kafka)
a ``StreamMappingRunner`` over the ``StreamSource`` their
``StreamSourceFactory`` makes, with the shard checkpoints and the
``OnFailure`` sink of ``PollerConfig.streams``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from roost.esm.autoscaler import ScalingSettings
from roost.esm.connector import ConnectorFactory
from roost.esm.error_handler import ErrorHandler
from roost.esm.health import PollerHealth
from roost.esm.lifecycle import settled
from roost.esm.load_shedder import MAX_IN_FLIGHT_BATCHES, LoadShedder
from roost.esm.mapping import EventSourceMapping
from roost.esm.metrics import EsmMetrics
from roost.esm.orchestrator import InvokeOrchestrator
from roost.esm.repository import MappingRepository
from roost.esm.runner import MappingRunner, RunnerDeps, RunnerSettings
from roost.esm.sources import SourceType
from roost.esm.states import MappingState
from roost.esm.stream.lane import FailureSink
from roost.esm.stream.runner import StreamDeps, StreamMappingRunner, StreamSettings, new_owner
from roost.esm.stream.shard_catalog import ShardCatalog, parse_shard_resource
from roost.esm.stream.source import StreamSourceFactory
from roost.esm.work_acquirer import WorkAcquirer
from roost.flow.backpressure import HostPressure
from roost.flow.circuit_breaker import BreakerBoard
from roost.leasing import KeeperConfig
from roost.leasing.liveness import OwnerLiveness
from roost.store.ports import CheckpointStore, ConfigStore

log = logging.getLogger(__name__)

# States in which an enabled mapping is (to be) running.
RUNNING_STATES = frozenset(
    {MappingState.CREATING, MappingState.ENABLING, MappingState.UPDATING, MappingState.ENABLED}
)


def should_run(mapping: EventSourceMapping) -> bool:
    """Whether pollers should be running ``mapping`` now."""
    return mapping.enabled and mapping.state in RUNNING_STATES


async def settle_running(mappings: MappingRepository, uuid: str) -> EventSourceMapping | None:
    """Complete a transition to ``Enabled`` once the mapping really runs.

    Only while it still should run: a disable or delete that landed meanwhile
    is left for the poller to carry out (it stops, then the plane settles).
    """

    def change(current: EventSourceMapping) -> EventSourceMapping | None:
        if not should_run(current) or not current.state.transitional:
            return None
        return settled(current, mappings.now_s())

    return await mappings.transition(uuid, change)


@dataclass(frozen=True)
class StreamParts:
    """What stream mappings need besides a source: checkpoints, an ``OnFailure`` sink,
    and the catalog of shards their leases are taken from."""

    checkpoints: CheckpointStore
    failures: FailureSink
    settings: StreamSettings = dataclasses.field(default_factory=StreamSettings)
    catalog: ShardCatalog | None = None


Runner = MappingRunner | StreamMappingRunner


@dataclass(frozen=True)
class PollerConfig:
    """What a poller is built with (every poller of a node shares one)."""

    lease_store: ConfigStore
    mappings: MappingRepository
    factories: Mapping[SourceType, ConnectorFactory | StreamSourceFactory]
    orchestrator: InvokeOrchestrator
    keeper: KeeperConfig
    scaling: ScalingSettings = dataclasses.field(default_factory=ScalingSettings)
    runner: RunnerSettings = dataclasses.field(default_factory=RunnerSettings)
    max_in_flight_batches: int = MAX_IN_FLIGHT_BATCHES
    stop_grace_s: float = 5.0
    # Frees a crashed poller's mapping leases at once (None: at their expiry).
    liveness: OwnerLiveness | None = None
    metrics: EsmMetrics = dataclasses.field(default_factory=EsmMetrics)
    # Needed as soon as a factory is a ``StreamSourceFactory``.
    streams: StreamParts | None = None
    # The event source endpoints' circuit breakers and the worker host's
    # backpressure (flow.circuit_breaker, flow.backpressure); None: off.
    breakers: BreakerBoard | None = None
    pressure: HostPressure | None = None


class EsmPoller:
    """Runs the mappings its work acquirer leases it; ``start`` then ``stop``."""

    def __init__(self, poller_id: str, config: PollerConfig) -> None:
        self.poller_id = poller_id
        self._config = config
        self.health = PollerHealth()
        self.shedder = LoadShedder(self.health, config.max_in_flight_batches, config.pressure)
        self.acquirer = WorkAcquirer(
            config.lease_store,
            poller_id,
            config.factories.keys(),
            config.mappings,
            self,
            config.keeper,
            liveness=config.liveness,
            catalog=config.streams.catalog if config.streams else None,
        )
        self._deps = RunnerDeps(
            orchestrator=config.orchestrator,
            errors=ErrorHandler(),
            shedder=self.shedder,
            poller_health=self.health,
            scaling=config.scaling,
            progress=self.acquirer.progress,
            holds=self.acquirer.holds,
            metrics=config.metrics,
            breakers=config.breakers,
        )
        self._stream_deps: StreamDeps | None = None
        if config.streams is not None:
            self._stream_deps = StreamDeps(
                orchestrator=config.orchestrator,
                checkpoints=config.streams.checkpoints,
                failures=config.streams.failures,
                poller_health=self.health,
                progress=self.acquirer.progress,
                holds=self.acquirer.holds,
                owner=new_owner(poller_id),
                metrics=config.metrics,
                settings=config.streams.settings,
                nudge=self.acquirer.nudge,
                write_result=self._write_result,
                shard_listing=config.streams.catalog.listed if config.streams.catalog else None,
                breakers=config.breakers,
                pressure=config.pressure,
            )
        self.runners: dict[str, Runner] = {}

    @property
    def source_types(self) -> frozenset[SourceType]:
        """The source types this poller handles."""
        return frozenset(self._config.factories)

    async def start(self) -> None:
        """Start the health probe and the work acquirer's heartbeats."""
        self.health.start()
        await self.acquirer.start()

    async def stop(self) -> None:
        """Drain every runner at once, then give the leases back."""
        runners = list(self.runners.values())
        self.runners.clear()
        await asyncio.gather(
            *(runner.stop(self._config.stop_grace_s) for runner in runners),
            return_exceptions=True,
        )
        await self.acquirer.stop()
        await self.health.stop()

    async def _write_result(self, uuid: str, result: str) -> None:
        """Store a stream mapping's ``LastProcessingResult`` (unless it already says so)."""

        def change(current: EventSourceMapping) -> EventSourceMapping | None:
            if current.last_processing_result == result:
                return None
            return dataclasses.replace(current, last_processing_result=result)

        await self._config.mappings.transition(uuid, change)

    async def on_acquired(self, resource: str) -> None:
        """The poller holds ``resource`` (a mapping, or a shard of a stream mapping):
        run it, then say the mapping is enabled."""
        uuid, shard_id = parse_shard_resource(resource)
        mapping = await self._config.mappings.get(uuid)
        if mapping is None or not should_run(mapping):
            return  # the next heartbeat gives a lease on a mapping that should not run up
        runner = self.runners.get(uuid)
        if runner is not None:
            if isinstance(runner, StreamMappingRunner) and "/" in resource:
                await runner.assign(shard_id)
            return
        runner = self._runner(mapping, {shard_id} if "/" in resource else None)
        self.runners[uuid] = runner
        await runner.start()
        log.info("poller %s: running mapping %s", self.poller_id, resource)
        await self._settle(uuid)

    def _runner(self, mapping: EventSourceMapping, shards: set[str] | None) -> Runner:
        factory = self._config.factories[mapping.source.type]
        if isinstance(factory, StreamSourceFactory):
            if self._stream_deps is None:
                raise RuntimeError("stream mappings need PollerConfig.streams")
            source = factory.source(mapping)
            return StreamMappingRunner(mapping, source, self._stream_deps, assigned=shards)
        return MappingRunner(mapping, factory.connector(mapping), self._deps, self._config.runner)

    async def on_lost(self, resource: str) -> None:
        """Stop ``resource`` (its lease is about to go, or went); the mapping's runner
        stops with the last of its shards."""
        uuid, shard_id = parse_shard_resource(resource)
        runner = self.runners.get(uuid)
        if runner is None:
            return
        if isinstance(runner, StreamMappingRunner) and "/" in resource:
            await runner.unassign(shard_id, self._config.stop_grace_s)
            if not runner.idle:
                return
        self.runners.pop(uuid, None)
        await runner.stop(self._config.stop_grace_s)
        log.info("poller %s: stopped mapping %s", self.poller_id, uuid)

    async def apply(self, mapping: EventSourceMapping) -> None:
        """The stored mapping as read now: hand a changed one to its runner, settle it."""
        runner = self.runners.get(mapping.uuid)
        if runner is None or not should_run(mapping):
            return
        if runner.mapping.revision != mapping.revision:
            await runner.update(mapping)
        if mapping.state.transitional:
            await self._settle(mapping.uuid)

    async def _settle(self, uuid: str) -> None:
        try:
            await settle_running(self._config.mappings, uuid)
        except Exception:
            log.exception("poller %s: settling mapping %s failed", self.poller_id, uuid)
