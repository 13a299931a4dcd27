"""GetAccountSettings: the account's limits and what it uses of them."""

from __future__ import annotations

from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.router import Handler, Output, Params


class AccountHandlers:
    """Handlers of account-wide settings."""

    def __init__(self, cp: ControlPlane) -> None:
        self._cp = cp

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {"GetAccountSettings": self.get_account_settings}

    async def get_account_settings(self, ctx: RequestContext, params: Params) -> Output:
        records = await self._cp.functions.list(ctx.account_id)
        total_code = 0
        for record in records:
            total_code += record.latest.code.size_bytes
            for version in await self._cp.functions.list_versions(ctx.account_id, record.name):
                total_code += version.code.size_bytes
        reserved = (await self._cp.functions.get_reservations(ctx.account_id)).total()
        limits = self._cp.limits
        return {
            "AccountLimit": {
                "TotalCodeSize": limits.total_code_size_bytes,
                "CodeSizeUnzipped": limits.code_size_unzipped_bytes,
                "CodeSizeZipped": limits.code_size_zipped_bytes,
                "ConcurrentExecutions": limits.concurrent_executions,
                "UnreservedConcurrentExecutions": limits.concurrent_executions - reserved,
            },
            "AccountUsage": {"TotalCodeSize": total_code, "FunctionCount": len(records)},
        }
