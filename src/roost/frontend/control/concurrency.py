"""Put/Get/DeleteFunctionConcurrency: reserved concurrency within the account limit."""

from __future__ import annotations

from dataclasses import replace

from roost.api.errors import InvalidParameterValueException
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.resolve import function_ref, load_function, update_function
from roost.frontend.router import Handler, Output, Params
from roost.functions.repository import FunctionRecord


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

    async def reserved_elsewhere(self, account_id: str, except_name: str) -> int:
        """Concurrency reserved by every other function of the account."""
        records = await self._cp.functions.list(account_id)
        return sum(r.reserved_concurrency or 0 for r in records if r.name != except_name)

    async def put_function_concurrency(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        wanted = int(params["ReservedConcurrentExecutions"])
        limits = self._cp.limits

        async def reserve(record: FunctionRecord) -> FunctionRecord:
            others = await self.reserved_elsewhere(ctx.account_id, record.name)
            unreserved = limits.concurrent_executions - others - wanted
            if unreserved < limits.unreserved_concurrency_minimum:
                raise InvalidParameterValueException(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    "UnreservedConcurrentExecution below its minimum value of "
                    f"[{limits.unreserved_concurrency_minimum}]."
                )
            return replace(record, reserved_concurrency=wanted)

        await update_function(self._cp, ctx, ref.name, reserve)
        return {"ReservedConcurrentExecutions": wanted}

    async def get_function_concurrency(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        record = await load_function(self._cp, ctx, ref.name)
        if record.reserved_concurrency is None:
            return {}
        return {"ReservedConcurrentExecutions": record.reserved_concurrency}

    async def delete_function_concurrency(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        await update_function(
            self._cp, ctx, ref.name, lambda r: replace(r, reserved_concurrency=None)
        )
        return {}
