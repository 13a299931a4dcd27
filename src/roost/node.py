"""A Roost node: the stores, the roles and the HTTP server, started and stopped as one.

``roost up`` builds a ``Node`` from a ``RoostConfig`` and runs it in the
foreground; tests build one the same way on a free port.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from roost import __version__, shutdown_stage
from roost.api.model import Plane, operation_table
from roost.async_invoke.backlog import FunctionCacheOrder
from roost.async_invoke.destination_outcomes import DestinationOutcomes
from roost.async_invoke.frontend import AsyncFrontEnd
from roost.async_invoke.invoker import FunctionCacheConcurrency
from roost.async_invoke.metrics import AsyncMetrics
from roost.async_invoke.plane import AsyncPlane
from roost.auth.accounts import AccountRepository, CredentialResolver
from roost.auth.credential_snapshot import CredentialSnapshot
from roost.auth.sigv4 import SigV4Verifier
from roost.cluster.node_cluster import NodeCluster, join_cluster
from roost.config import RoostConfig
from roost.destinations import AwsClients, DestinationDelivery, DestinationSink, ParkingDelivery
from roost.esm.autoscaler import ScalingSettings
from roost.esm.lifecycle import MappingActivator
from roost.esm.mapping import EventSourceMapping
from roost.esm.orchestrator import SyncPathBatchInvoker
from roost.esm.plane import EsmPlane, EsmSettings
from roost.esm.poller import StreamParts
from roost.esm.repository import MappingRepository
from roost.esm.runner import RunnerSettings
from roost.esm.source_factories import SourceFactories
from roost.esm.sqs import SqsClients
from roost.esm.sqs.visibility_check import SqsQueueInspector
from roost.esm.stream.failure_destination import StreamFailureDestination
from roost.esm.stream.failure_sink import OnFailureSink
from roost.esm.stream.runner import StreamSettings
from roost.esm.stream.shard_worker import ShardWorkerSettings
from roost.flow.backpressure import HostPressure
from roost.flow.circuit_breaker import (
    DESTINATION_BREAKERS,
    HOST_BREAKERS,
    SOURCE_BREAKERS,
    BreakerBoards,
)
from roost.flow.sync_first import SyncFirst
from roost.frontend.app import FrontDoor
from roost.frontend.authentication import SigV4Authenticator
from roost.frontend.control.deps import AccountLimits, ControlPlane
from roost.frontend.control.invalidation import invalidating_routes
from roost.frontend.control.mappings import EventSourceMappingHandlers
from roost.frontend.control.provisioned_concurrency import ProvisionedConcurrencyHandlers
from roost.frontend.control.routes import control_plane_routes
from roost.frontend.invoke.plane import InvokePlane
from roost.frontend.router import Handler, PlaneRouter
from roost.frontend.server import HttpServer
from roost.functions.code_collector import CodeCollector
from roost.functions.naming import parse_function_name
from roost.functions.repository import FunctionRepository
from roost.leasing.liveness import LockFileLiveness
from roost.node_settings import (
    async_settings,
    invoke_admission,
    invoke_settings,
    sync_first_settings,
    with_roles,
)
from roost.node_stores import open_counters, open_node_stores
from roost.observability.capacity_metrics import CapacitySource
from roost.observability.node_metrics import AsyncSource, EsmSource, NodeMetrics, SyncSource
from roost.observability.variance_metrics import VarianceSource
from roost.startup_recovery import StartupRecovery
from roost.store.embedded import Stores
from roost.store.faults import FaultHook, FaultSwitch, FaultTarget, apply_plans_at_start
from roost.worker.isolation import Isolation
from roost.worker.pressure import start_host_pressure

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long requests in flight may take to finish once the node is asked to stop.
SHUTDOWN_GRACE_S = 10.0


class Node:
    """One Roost process with all roles, serving HTTP until stopped."""

    def __init__(self, config: RoostConfig) -> None:
        self.config = with_roles(config)
        self._stores: Stores | None = None
        self._control: ControlPlane | None = None
        self._collector: CodeCollector | None = None
        self._mapping_activator: MappingActivator | None = None
        self._invoke: InvokePlane | None = None
        self._async: AsyncPlane | None = None
        self._esm: EsmPlane | None = None
        self._sqs_clients: SqsClients | None = None
        self._sources: SourceFactories | None = None
        # This node's part in a cluster (None: a single node).
        self.cluster: NodeCluster | None = None
        # Pollers sharing this data directory tell a crashed one's leases from a
        # live one's (flocks under owners/), so a restart need not wait them out.
        self._liveness = LockFileLiveness(config.data_dir / "owners")
        self._server: HttpServer | None = None
        self._stopping = asyncio.Event()
        self._started_at = time.time()
        self.ready = asyncio.Event()
        # The node's async counters: the plane updates them, /metrics reads them.
        self.async_metrics = AsyncMetrics()
        # Fault plans of this node's stores (docs/resilience.md), only when enabled.
        self.faults = self._fault_switch(config)
        # Start-up work the stores must answer, retried while they do not.
        self.recovery = StartupRecovery()
        self._resolver: CredentialResolver | None = None
        # Circuit breakers per dependency kind (destination, host, esm source);
        # shared by every part that calls such a target, read by /metrics.
        self.breakers = BreakerBoards(config.breakers)
        self._outbox: ParkingDelivery | None = None
        # Backpressure: the worker host's pressure, read by the pollers (set at build).
        self.pressure: HostPressure | None = None
        # Clients of the AWS endpoint for destinations, closed last.
        self._aws: list[AwsClients] = []

    async def _start_control(self, stores: Stores) -> ControlPlane:
        """The control plane over the opened stores, its pending transitions completed
        and its code collector started."""
        swept = await asyncio.to_thread(self._liveness.sweep)
        if swept:
            log.info("removed %d lock files of lease owners long dead", swept)
        limits = AccountLimits(concurrent_executions=self.config.account_concurrency)
        control = ControlPlane.build(stores.config, stores.code, limits)
        self._control = control

        async def recover_functions() -> None:
            recovered = await control.activator.recover()
            if recovered:
                log.info("completed %d pending function transitions", recovered)

        await self.recovery.run("pending function transitions", recover_functions)
        self._collector = CodeCollector(control.functions, stores.code)
        self._collector.start()
        return control

    async def _build_app(self) -> FrontDoor:
        stores = await open_node_stores(self.config, self.faults)
        self._stores = stores
        control = await self._start_control(stores)
        resolver = CredentialResolver(
            AccountRepository(stores.config, stores.secrets),
            allow_builtin=self.config.allow_builtin_credentials,
            snapshot=CredentialSnapshot.in_data_dir(self.config.data_dir, stores.secrets),
        )
        self._resolver = resolver
        operation_table()  # Build the routing table before the first request.
        invoke = InvokePlane(
            invoke_settings(self.config),
            self.config.data_dir,
            control,
            stores.code,
            host_breakers=self.breakers.board(HOST_BREAKERS),
            host_faults=self._hook(FaultTarget.WORKER_HOST),
            counters=open_counters(self.config),
        )
        self._invoke = invoke
        invoke.start()
        self.cluster = await join_cluster(self.config, stores, invoke)
        self.pressure = start_host_pressure(self.config.backpressure, invoke.placement.host)
        invoke_router = PlaneRouter(Plane.INVOKE, invoke.routes(), invoke_admission(self.config))
        sync_first = SyncFirst(invoke_router, sync_first_settings(self.config))
        async_plane = self._async_plane(stores, invoke, sync_first)
        provisioned = ProvisionedConcurrencyHandlers(control, invoke.provisioner.allocated)
        mappings = await self._mapping_routes(control, stores, invoke)
        control_routes = invalidating_routes(
            {**control_plane_routes(control), **provisioned.routes(), **mappings}, invoke.cache
        )
        routers = {
            Plane.CONTROL: PlaneRouter(
                Plane.CONTROL, control_routes, self.config.control_max_in_flight
            ),
            Plane.INVOKE: invoke_router,
            Plane.ASYNC: self._async_router(async_plane, sync_first),
        }
        authenticator = SigV4Authenticator(SigV4Verifier(resolver, service="lambda"))
        return FrontDoor(
            routers,
            authenticator,
            self.config.region,
            self._health,
            stores.code,
            control.code_links,
            invoke.logs,
            self._metrics(async_plane, stores, invoke, sync_first, routers).render,
            faults=self.faults,
            cluster=self.cluster.endpoint if self.cluster is not None else None,
            served=self.config.cluster.served_planes(),
        )

    def _async_router(self, async_plane: AsyncPlane, sync_first: SyncFirst) -> PlaneRouter:
        """The async plane's router: its own bound, narrowed while sync invokes run, so
        an async flood takes neither the sync plane's slots nor its CPU."""
        return PlaneRouter(
            Plane.ASYNC,
            async_plane.routes(),
            self.config.async_max_in_flight,
            limit=sync_first.limit,
        )

    def _destination_clients(self) -> AwsClients:
        """Clients of the AWS endpoint for one kind of destination, closed with the node."""
        clients = AwsClients(self.config.aws_endpoint_url)
        self._aws.append(clients)
        return clients

    def _async_plane(
        self, stores: Stores, invoke: InvokePlane, sync_first: SyncFirst
    ) -> AsyncPlane:
        """The async plane, started: its pollers run through ``invoke``'s sync path, and
        its outcomes go to destinations through the AWS endpoint."""
        aws = self._destination_clients()

        def destinations_of(frontend: AsyncFrontEnd) -> DestinationOutcomes:
            delivery = DestinationDelivery(
                aws,
                invoker=frontend,
                breakers=self.breakers.board(DESTINATION_BREAKERS),
                faults=self._hook(FaultTarget.DESTINATIONS),
            )
            # What cannot be delivered now waits in the outbox, not in the poller.
            self._outbox = ParkingDelivery(delivery, stores.queues)
            return DestinationOutcomes(
                DestinationSink(stores.config, self._outbox, configs=invoke.cache)
            )

        async_plane = AsyncPlane(
            async_settings(self.config),
            stores.queues,
            invoke.handlers,
            invoke.cache,
            sink_for=destinations_of,
            lease_store=stores.config,
            metrics=self.async_metrics,
            limit=sync_first.limit,
            liveness=self._liveness,
            concurrency=FunctionCacheConcurrency(invoke.cache, invoke.counting.account_limit),
            sync_busy=sync_first.sync_busy,
            pressure=self.pressure,
            order=FunctionCacheOrder(invoke.cache),
        )
        self._async = async_plane
        async_plane.start()
        if self._outbox is not None:
            self._outbox.start()
        return async_plane

    async def _mapping_routes(
        self, control: ControlPlane, stores: Stores, invoke: InvokePlane
    ) -> dict[str, Handler]:
        """The event source mapping API and its pollers, after finishing deletions a
        crash left open (the pollers' reconciler settles the other transitions)."""
        repository = MappingRepository(stores.mappings)
        esm = self._esm_plane(repository, stores, invoke)
        activator = MappingActivator(
            repository, auto_settle=esm is None, on_change=esm.nudge if esm else None
        )
        self._mapping_activator = activator

        async def recover_mappings() -> None:
            settled = await activator.recover()
            if settled:
                log.info("found %d pending event source mapping transitions", settled)

        await self.recovery.run("pending event source mapping transitions", recover_mappings)
        if esm is not None:
            await esm.start()
        inspector = SqsQueueInspector(self._sqs_clients) if self._sqs_clients else None
        return EventSourceMappingHandlers(control, repository, activator, inspector).routes()

    def _esm_plane(
        self, repository: MappingRepository, stores: Stores, invoke: InvokePlane
    ) -> EsmPlane | None:
        """The node's event source mapping pollers (None with ``esm_pollers`` 0)."""
        config = self.config
        if config.esm_pollers <= 0:
            return None
        functions = FunctionRepository(stores.config)

        async def role_of(mapping: EventSourceMapping) -> str:
            ref = parse_function_name(mapping.function_arn)
            record = await functions.get(mapping.account_id, ref.name)
            return record.latest.role if record is not None else ""

        self._sources = SourceFactories(
            config.aws_endpoint_url,
            sqs_receive_threads=config.esm_sqs_threads,
            role_of=role_of,
            faults=self._hook(FaultTarget.EVENT_SOURCES),
        )
        self._sqs_clients = self._sources.sqs_clients
        settings = EsmSettings(
            pollers=config.esm_pollers,
            lease_ttl_s=config.esm_lease_ttl_s,
            stall_after_s=config.esm_stall_after_s,
            max_in_flight_batches=config.esm_max_in_flight,
            scaling=ScalingSettings(
                interval_s=config.esm_scale_interval_s, max_batches=config.esm_max_batches
            ),
            runner=RunnerSettings(poll_wait_s=config.esm_poll_wait_s),
        )
        delivery = DestinationDelivery(
            self._destination_clients(),
            breakers=self.breakers.board(DESTINATION_BREAKERS),
            faults=self._hook(FaultTarget.DESTINATIONS),
        )
        streams = StreamParts(
            checkpoints=stores.checkpoints,
            failures=OnFailureSink(StreamFailureDestination(delivery)),
            settings=StreamSettings(
                shard_refresh_s=config.esm_shard_refresh_s,
                worker=ShardWorkerSettings(min_poll_interval_s=config.esm_stream_poll_s),
            ),
        )
        self._esm = EsmPlane(
            settings,
            repository,
            stores.config,
            SyncPathBatchInvoker(invoke.handlers),
            self._sources.by_type(),
            liveness=self._liveness,
            streams=streams,
            breakers=self.breakers.board(SOURCE_BREAKERS),
            pressure=self.pressure,
        )
        return self._esm

    def _metrics(
        self,
        plane: AsyncPlane,
        stores: Stores,
        invoke: InvokePlane,
        sync_first: SyncFirst,
        routers: dict[Plane, PlaneRouter],
    ) -> NodeMetrics:
        host = invoke.placement.host
        capacity = CapacitySource(
            {plane.value: router.control.figures for plane, router in routers.items()},
            invoke.counting,
            host.capacity,
        )
        return NodeMetrics(
            AsyncSource(
                self.async_metrics,
                stores.queues,
                plane.queue_names,
                sync_first,
                plane.running,
                plane.running_max,
                plane.tenants,
                plane.drain,
                plane.backlog,
                plane.shards,
            ),
            SyncSource(
                invoke.counting,
                lambda: [env.status.value for env in list(host.environments.values())],
            ),
            EsmSource(self._esm.metrics, self._esm.running) if self._esm is not None else None,
            capacity,
            self.breakers,
            self.pressure,
            VarianceSource(stores.queue_commits, stores.queue_max_batch_ops),
            self.cluster,
        )

    @staticmethod
    def _fault_switch(config: RoostConfig) -> FaultSwitch | None:
        """The node's fault switch, with ``ROOST_FAULTS_AT_START`` applied (None: off)."""
        if not config.fault_injection:
            if config.faults_at_start:
                log.warning("ROOST_FAULTS_AT_START ignored: ROOST_FAULT_INJECTION is off")
            return None
        switch = FaultSwitch()
        if config.faults_at_start:
            apply_plans_at_start(switch, config.faults_at_start)
            log.warning("faults injected from the start: %s", config.faults_at_start)
        return switch

    def _hook(self, target: FaultTarget) -> FaultHook | None:
        """``target``'s fault hook, with fault injection on (docs/resilience.md)."""
        return self.faults.hook(target) if self.faults is not None else None

    @property
    def isolation(self) -> Isolation | None:
        """How functions are isolated on this node (known once it started)."""
        return self._invoke.isolation if self._invoke is not None else None

    async def _health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.time() - self._started_at, 3),
            # Start-up work still waiting for a store (empty once converged).
            "startup_pending": self.recovery.pending,
        }

    async def serve(self) -> None:
        """Run until SIGINT/SIGTERM (or ``stop``), then close everything cleanly (what
        was started of it too, when starting failed)."""
        handled: list[signal.Signals] = []
        try:
            front_door = await self._build_app()
            self._server = HttpServer(front_door, self.config.host, self.config.port)
            handled = self._handle_stop_signals()
            await self._server.start()
            self.ready.set()
            await self._stopping.wait()
            await self._server.shutdown(SHUTDOWN_GRACE_S)
        finally:
            self._stopping.set()  # Also when starting or serving failed.
            try:
                await self._close()
            finally:
                loop = asyncio.get_running_loop()
                for sig in handled:
                    loop.remove_signal_handler(sig)

    def _handle_stop_signals(self) -> list[signal.Signals]:
        """Stop on SIGINT/SIGTERM (a second one forces the exit); main thread only."""
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in STOP_SIGNALS:
            try:
                loop.add_signal_handler(sig, self._on_stop_signal)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or a platform without it
            handled.append(sig)
        return handled

    def _on_stop_signal(self) -> None:
        if self._stopping.is_set() and self._server is not None:
            self._server.abort()  # A second signal: stop waiting for requests in flight.
        self.stop()

    def stop(self) -> None:
        """Ask the server to finish in-flight requests and exit."""
        self._stopping.set()

    async def stopping(self) -> None:
        """Return once the node has begun to stop (asked to, or its serving failed)."""
        await self._stopping.wait()

    async def _close(self) -> None:
        for name, step in self._shutdown_steps():
            if step is not None:
                with shutdown_stage.stage(name):
                    await step()

    def _shutdown_steps(self) -> list[tuple[str, Callable[[], Awaitable[object]] | None]]:
        """The node's parts in the order they stop (None: not running here)."""

        async def close_aws_clients() -> None:
            for clients in self._aws:
                clients.close()

        def part(owner: Any, method: str) -> Callable[[], Awaitable[object]] | None:
            return getattr(owner, method) if owner is not None else None

        activator = self._control.activator if self._control is not None else None
        plane = self._async
        async_stop = functools.partial(plane.stop, SHUTDOWN_GRACE_S) if plane is not None else None
        return [
            ("start-up recovery", self.recovery.stop),
            # A worker host leaves the cluster first: frontends stop sending to it.
            ("cluster membership", part(self.cluster, "leave")),
            # Pollers first: their events still need the invoke plane's environments.
            ("event source mappings", part(self._esm, "stop")),
            ("event sources", part(self._sources, "close")),
            ("async plane", async_stop),
            ("destination outbox", part(self._outbox, "stop")),
            ("destination clients", close_aws_clients),
            ("host pressure", part(self.pressure, "stop")),
            ("cluster", part(self.cluster, "stop")),
            ("invoke plane", part(self._invoke, "stop")),
            ("code collector", part(self._collector, "stop")),
            ("function activator", part(activator, "stop")),
            ("mapping activator", part(self._mapping_activator, "stop")),
            ("credentials", part(self._resolver, "flush")),
            ("stores", part(self._stores, "close")),
        ]
