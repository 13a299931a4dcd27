"""How pollers run an event and find its retry limits: ports and their adapters.

``SyncPathInvoker`` runs an event through the very path a sync ``Invoke``
takes (``InvokeHandlers.resolve`` then ``execute``: L1 cache, counting,
assignment, placement, environment), with the event's request id, so throttles
and placement behave the same for both. ``EventInvokeConfigLimits`` reads the
qualifier's ``EventInvokeConfig``, only when an attempt failed.
``FunctionCacheConcurrency`` tells the tenant buckets a function's concurrency
settings from the same in-memory cache.
"""

from __future__ import annotations

from typing import Protocol

from roost.api.errors import ResourceNotFoundException
from roost.async_invoke.event import AsyncEvent
from roost.async_invoke.outcome import InvokeResult
from roost.async_invoke.retry import RetryLimits
from roost.flow.tenant_buckets import TenantConcurrency
from roost.frontend.context import RequestContext
from roost.frontend.invoke.function_cache import FunctionCache
from roost.frontend.invoke.handler import InvokeHandlers
from roost.functions.attachments import EventInvokeConfigSource
from roost.functions.naming import LATEST


class EventInvoker(Protocol):
    """Runs one attempt of an async event."""

    async def invoke(self, event: AsyncEvent) -> InvokeResult:
        """The function's result (errors included in it); raises ``AwsError`` when
        the function could not run (``TooManyRequestsException`` for a throttle)."""


class RetryLimitsSource(Protocol):
    """Where an event's retry settings come from."""

    async def limits(self, event: AsyncEvent) -> RetryLimits:
        """The limits of the event's function and qualifier (AWS's defaults if unset)."""


class SyncPathInvoker:
    """``EventInvoker`` over the sync invoke path."""

    def __init__(self, handlers: InvokeHandlers) -> None:
        self._handlers = handlers

    async def invoke(self, event: AsyncEvent) -> InvokeResult:
        """Resolve the function as it is now and run it once."""
        ctx = RequestContext(
            account_id=event.account_id,
            access_key_id="",
            request_id=event.request_id,
            region=event.region,
            operation="Invoke",
        )
        try:
            view, config = await self._handlers.resolve(ctx, event.function_name, event.qualifier)
        except ResourceNotFoundException:
            # Another node may have accepted it for a version or an alias this
            # node's cache has not heard of yet (pushed invalidations are at most
            # once): read the function now before calling it gone.
            await self._handlers.reload(event.account_id, event.function_name)
            view, config = await self._handlers.resolve(ctx, event.function_name, event.qualifier)
        outcome = await self._handlers.execute(
            ctx, view, config, event.qualifier, event.payload, event.client_context
        )
        return InvokeResult(200, outcome.payload, outcome.function_error, config.version)


class EventInvokeConfigLimits:
    """``RetryLimitsSource`` over the EventInvokeConfig documents."""

    def __init__(self, configs: EventInvokeConfigSource) -> None:
        self._configs = configs

    async def limits(self, event: AsyncEvent) -> RetryLimits:
        """The config of the event's qualifier (``$LATEST`` when unqualified)."""
        document = await self._configs.event_invoke_config(
            event.account_id, event.function_name, event.qualifier or LATEST
        )
        return RetryLimits.from_document(document)


class FunctionCacheConcurrency:
    """``ConcurrencySource`` over the function cache (the L1 cache the invoke path reads)."""

    def __init__(self, cache: FunctionCache, account_limit: int) -> None:
        self._cache = cache
        self._account_limit = account_limit

    async def concurrency(self, account_id: str, function_name: str) -> TenantConcurrency | None:
        """The function's reserved concurrency and its account's limit and reservations."""
        view = await self._cache.get(account_id, function_name)
        if view is None:
            return None
        reserved_total = await self._cache.reserved_in_account(account_id)
        return TenantConcurrency(
            view.record.reserved_concurrency, self._account_limit, reserved_total
        )
