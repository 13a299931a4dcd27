"""Put/Get/DeleteFunctionConcurrency: reserved concurrency within the account limit.

A reservation is written to the function record (which GetFunction reads) and to the
account's reservations document in one batch conditional on both, so the check that
enough concurrency stays unreserved sees every other reservation made meanwhile.
"""

from __future__ import annotations

from dataclasses import replace

from roost.api.errors import InvalidParameterValueException
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.resolve import function_ref, load_function, retry_on_conflict
from roost.frontend.router import Handler, Output, Params


class ConcurrencyHandlers:
    """Handlers of reserved concurrency."""

    def __init__(self, cp: ControlPlane) -> None:
        self._cp = cp

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {
            "PutFunctionConcurrency": self.put_function_concurrency,
            "GetFunctionConcurrency": self.get_function_concurrency,
            "DeleteFunctionConcurrency": self.delete_function_concurrency,
        }

    async def _reserve(self, ctx: RequestContext, name: str, wanted: int | None) -> None:
        """One attempt at setting a function's reservation (None: removing it)."""
        record = await load_function(self._cp, ctx, name)
        reservations = await self._cp.functions.get_reservations(ctx.account_id)
        if wanted is not None:
            limits = self._cp.limits
            others = reservations.total(excluding=record.name)
            unreserved = limits.concurrent_executions - others - wanted
            if unreserved < limits.unreserved_concurrency_minimum:
                raise InvalidParameterValueException(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    "UnreservedConcurrentExecution below its minimum value of "
                    f"[{limits.unreserved_concurrency_minimum}]."
                )
        await self._cp.functions.save(
            replace(record, reserved_concurrency=wanted),
            also=[reservations.with_reservation(record.name, wanted).write()],
        )

    async def put_function_concurrency(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        wanted = int(params["ReservedConcurrentExecutions"])
        await retry_on_conflict(lambda: self._reserve(ctx, ref.name, wanted))
        return {"ReservedConcurrentExecutions": wanted}

    async def get_function_concurrency(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        record = await load_function(self._cp, ctx, ref.name)
        if record.reserved_concurrency is None:
            return {}
        return {"ReservedConcurrentExecutions": record.reserved_concurrency}

    async def delete_function_concurrency(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        await retry_on_conflict(lambda: self._reserve(ctx, ref.name, None))
        return {}
