"""``RemoteExecutor``: a cluster frontend runs each invoke on the worker host the directory picks.

A node that is itself a live worker host with a free slot runs the invoke on
its own environments, warm or not: the hop would cost every invoke, a local
cold start costs once. Without that, a node with every role sent all its
invokes to whichever host warmed up first (its advertised idle environments
looked free to every frontend at once), paying the hop and cold starts there
while its own slots stayed empty, and a cluster of such nodes did not scale
(bench/cluster.py). Otherwise the directory prefers a host with a warm
environment of the version, else spreads new environments over the healthy
zones' free slots. The invoke goes over the internal invoke request
(``invoke_wire.py``), or straight to this node's own environments when the
pick is this node.

A host that cannot be reached (connection refused or reset before the request
was sent) never started the invoke, so the next pick is tried, up to
``attempts`` hosts. A host that fails after the request went out may have run
it: a sync invoke is not retried then (AWS runs a sync invoke at most once),
the caller gets a ``ServiceException`` and may retry. The same holds for the
async pollers and the ESM, which retry through their own rules.
"""

from __future__ import annotations

from collections.abc import Callable

from roost.api.errors import AwsError, ServiceException
from roost.cluster.directory import WorkerDirectory
from roost.cluster.invoke_wire import (
    CLUSTER_INVOKE_PATH,
    RemoteInvocation,
    parse_response,
    request_headers,
)
from roost.cluster.node_client import HopFailed, HostUnreachable, NodeClient
from roost.cluster.worker_registry import WorkerRecord, version_id
from roost.frontend.invoke.executor import Executor
from roost.functions.model import FunctionConfig
from roost.worker.environment import INIT_TIMEOUT_S, InvokeOutcome
from roost.worker.runtime_api import Invocation

# Beyond the function's own timeout and init, what the hop may add.
HOP_SLACK_S = 10.0


class NoWorkerHost(AwsError):
    """No live worker host in a healthy zone can take the invoke (yet)."""

    code = "ServiceException"


class RemoteExecutor:
    """Sends each invoke to a worker host of the cluster."""

    def __init__(
        self,
        directory: WorkerDirectory,
        secret: str,
        *,
        node_id: str | None = None,
        local: Executor | None = None,
        local_has_room: Callable[[], bool] | None = None,
        attempts: int = 3,
        client: NodeClient | None = None,
    ) -> None:
        self._directory = directory
        self._secret = secret
        self._node_id = node_id
        self._local = local
        self._local_has_room = local_has_room
        self._attempts = attempts
        self._client = client or NodeClient()
        # Invokes sent to another node, and hosts found unreachable, since start.
        self.forwarded = 0
        self.unreachable = 0

    async def run(
        self, account_id: str, config: FunctionConfig, network: bool, invocation: Invocation
    ) -> InvokeOutcome:
        """The outcome from the host picked for the invoke."""
        version = version_id(account_id, config.name, config.version, config.revision_id, network)
        remote = RemoteInvocation(
            account_id, config.name, config.version, config.revision_id, network, invocation
        )
        if self._runs_here():
            return await self._local_run(remote, config)
        tried: list[str] = []
        for _ in range(self._attempts):
            record = self._directory.choose(version, exclude=tried)
            if record is None and not tried:
                # No host known yet (this node just started, or all its hosts
                # left): read the registry now rather than wait for the refresh.
                await self._directory.refresh_soon()
                record = self._directory.choose(version)
            if record is None:
                break
            self._directory.sent(record, version)
            try:
                return await self._run_on(record, remote, config)
            except HostUnreachable:
                self.unreachable += 1
                tried.append(record.node_id)
            finally:
                self._directory.finished(record, version)
        raise NoWorkerHost(
            "No worker host can run the invoke now (none live in a healthy zone); retry later.",
            status=503,
        )

    def _runs_here(self) -> bool:
        """Whether this node's own worker host takes the invoke without asking the
        directory: it is live (heartbeating, zone not evacuated) and has a free slot."""
        return (
            self._local_has_room is not None
            and self._node_id is not None
            and self._directory.is_live(self._node_id)
            and self._local_has_room()
        )

    async def _local_run(self, remote: RemoteInvocation, config: FunctionConfig) -> InvokeOutcome:
        assert self._local is not None
        return await self._local.run(remote.account_id, config, remote.network, remote.invocation)

    async def _run_on(
        self, record: WorkerRecord, remote: RemoteInvocation, config: FunctionConfig
    ) -> InvokeOutcome:
        if record.node_id == self._node_id and self._local is not None:
            return await self._local_run(remote, config)
        timeout_s = config.timeout_s + INIT_TIMEOUT_S + HOP_SLACK_S
        try:
            response = await self._client.post(
                record.url + CLUSTER_INVOKE_PATH,
                remote.invocation.payload,
                request_headers(remote, self._secret),
                timeout_s,
            )
        except HopFailed as error:
            raise ServiceException(
                f"The worker host running the invoke failed ({error}); "
                "the invoke may or may not have run."
            ) from None
        self.forwarded += 1
        return parse_response(response.status, response.headers, response.body)

    async def close(self) -> None:
        """Close the connections to other nodes."""
        await self._client.close()
