"""``WorkerEndpoint``: the worker host's side of the internal invoke request.

A frontend of the cluster counted the invoke and picked this host; the
endpoint finds the version's configuration in this node's function cache
(read from the shared store on a miss, refreshed when the frontend names a
newer revision than the cache holds) and runs the invoke on a local
environment, warm if one is idle. It answers with the outcome
(``invoke_wire.py``).
"""

from __future__ import annotations

from roost.api.errors import ResourceNotFoundException
from roost.api.response import WireResponse
from roost.cluster.invoke_wire import check_secret, parse_request, response_of
from roost.frontend.http import HttpRequest
from roost.frontend.invoke.executor import LocalExecutor
from roost.frontend.invoke.function_cache import FunctionCache, FunctionView
from roost.functions.model import FunctionConfig
from roost.functions.naming import LATEST


def _version_of(view: FunctionView, version: str) -> FunctionConfig | None:
    return view.record.latest if version == LATEST else view.versions.get(version)


class WorkerEndpoint:
    """Runs invokes that other nodes' frontends send to this worker host."""

    def __init__(self, cache: FunctionCache, executor: LocalExecutor, secret: str) -> None:
        self._cache = cache
        self._executor = executor
        self._secret = secret
        # Invokes served for other nodes since start, for /metrics.
        self.served = 0

    async def answer(self, request: HttpRequest) -> WireResponse:
        """Run the invoke the request carries; AWS errors propagate to the front door."""
        check_secret(request.headers, self._secret)
        remote = parse_request(request.headers, request.body)
        config = await self._config(remote.account_id, remote.function_name, remote.version)
        if config is None or config.revision_id != remote.revision_id:
            # The frontend saw a change this node's cache has not: read it now.
            view = await self._cache.refresh(remote.account_id, remote.function_name)
            config = _version_of(view, remote.version) if view is not None else None
        if config is None:
            raise ResourceNotFoundException(
                f"Function not found: {remote.invocation.invoked_function_arn}"
            )
        outcome = await self._executor.run(
            remote.account_id, config, remote.network, remote.invocation
        )
        self.served += 1
        headers, body = response_of(outcome)
        return WireResponse(200, body, headers)

    async def _config(self, account_id: str, name: str, version: str) -> FunctionConfig | None:
        view = await self._cache.get(account_id, name)
        return _version_of(view, version) if view is not None else None
