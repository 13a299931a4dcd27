"""Pushing control-plane changes to the invoke path's L1 cache.

Every control-plane operation that may change a function (anything but Get* and
List*) invalidates that function's cached view once it succeeded, so warm invokes
never read the store yet never run a stale configuration.
"""

from __future__ import annotations

from collections.abc import Mapping

from roost.api.errors import AwsError
from roost.frontend.context import RequestContext
from roost.frontend.invoke.function_cache import FunctionCache
from roost.frontend.router import Handler, Output, Params
from roost.functions.naming import parse_function_name

_READ_ONLY_PREFIXES = ("Get", "List")
# The operations that change what an account's functions reserve.
_RESERVATION_CHANGES = frozenset(
    {"PutFunctionConcurrency", "DeleteFunctionConcurrency", "DeleteFunction"}
)


def _wrap(handler: Handler, cache: FunctionCache) -> Handler:
    async def invalidating(ctx: RequestContext, params: Params) -> Output:
        output = await handler(ctx, params)
        target = params.get("FunctionName") or params.get("Resource")
        name = None
        if isinstance(target, str):
            try:
                name = parse_function_name(target).name
            except AwsError:
                name = None
        reservations = name is None or ctx.operation in _RESERVATION_CHANGES
        cache.invalidate(ctx.account_id, name, reservations=reservations)
        return output

    return invalidating


def invalidating_routes(routes: Mapping[str, Handler], cache: FunctionCache) -> dict[str, Handler]:
    """``routes`` with every mutating handler wrapped to invalidate the cache."""
    return {
        name: handler if name.startswith(_READ_ONLY_PREFIXES) else _wrap(handler, cache)
        for name, handler in routes.items()
    }
