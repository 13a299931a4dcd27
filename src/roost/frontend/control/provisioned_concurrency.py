"""Put/Get/Delete/ListProvisionedConcurrencyConfig(s).

The requested count is stored per qualifier (a version or an alias, never
$LATEST); the invoke plane's provisioner keeps that many initialised
environments ready and reports how many are allocated, from which the status
(IN_PROGRESS, READY) follows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from roost.api.errors import AwsError, InvalidParameterValueException
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.resolve import function_ref, load_function, qualified_target
from roost.frontend.router import Handler, Output, Params
from roost.functions.attachments import AttachmentKind
from roost.functions.model import now_timestamp
from roost.functions.naming import LATEST, function_arn

KIND = AttachmentKind.PROVISIONED_CONCURRENCY
DEFAULT_MAX_ITEMS = 50

Allocated = Callable[[str, str, str], int]
"""(account, function, qualifier) -> initialised environments allocated now."""


def _not_found() -> AwsError:
    return AwsError(
        "No Provisioned Concurrency Config found for this function",
        code="ProvisionedConcurrencyConfigNotFoundException",
    )


class ProvisionedConcurrencyHandlers:
    """Handlers of provisioned concurrency configurations."""

    def __init__(self, cp: ControlPlane, allocated: Allocated) -> None:
        self._cp = cp
        self._allocated = allocated

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {
            "PutProvisionedConcurrencyConfig": self.put,
            "GetProvisionedConcurrencyConfig": self.get,
            "DeleteProvisionedConcurrencyConfig": self.delete,
            "ListProvisionedConcurrencyConfigs": self.list,
        }

    def _wire(
        self, ctx: RequestContext, name: str, qualifier: str, doc: Mapping[str, Any]
    ) -> Output:
        requested = int(doc["requested"])
        allocated = min(self._allocated(ctx.account_id, name, qualifier), requested)
        return {
            "RequestedProvisionedConcurrentExecutions": requested,
            "AllocatedProvisionedConcurrentExecutions": allocated,
            "AvailableProvisionedConcurrentExecutions": allocated,
            "Status": "READY" if allocated >= requested else "IN_PROGRESS",
            "LastModified": doc["last_modified"],
        }

    async def _target(self, ctx: RequestContext, params: Params) -> tuple[str, str]:
        name, qualifier = await qualified_target(
            self._cp, ctx, params["FunctionName"], params.get("Qualifier")
        )
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "Provisioned Concurrency Configs cannot be applied to unpublished function "
                "versions."
            )
        return name, qualifier

    async def put(self, ctx: RequestContext, params: Params) -> Output:
        name, qualifier = await self._target(ctx, params)
        requested = int(params["ProvisionedConcurrentExecutions"])
        record = await load_function(self._cp, ctx, name)
        if record.reserved_concurrency is not None and requested > record.reserved_concurrency:
            raise InvalidParameterValueException(
                "ProvisionedConcurrentExecutions cannot be greater than the function's "
                f"ReservedConcurrentExecutions ({record.reserved_concurrency})."
            )
        document = {"requested": requested, "last_modified": now_timestamp()}
        await self._cp.store.commit(
            [self._cp.attachments.put(KIND, ctx.account_id, name, qualifier, document)]
        )
        return self._wire(ctx, name, qualifier, document)

    async def get(self, ctx: RequestContext, params: Params) -> Output:
        name, qualifier = await self._target(ctx, params)
        item = await self._cp.attachments.get(KIND, ctx.account_id, name, qualifier)
        if item is None:
            raise _not_found()
        return self._wire(ctx, name, qualifier, item.value)

    async def delete(self, ctx: RequestContext, params: Params) -> Output:
        name, qualifier = await self._target(ctx, params)
        item = await self._cp.attachments.get(KIND, ctx.account_id, name, qualifier)
        if item is None:
            raise _not_found()
        await self._cp.store.commit(
            [self._cp.attachments.delete(KIND, ctx.account_id, name, qualifier)]
        )
        return {}

    async def list(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        await load_function(self._cp, ctx, ref.name)
        items = await self._cp.attachments.list(KIND, ctx.account_id, ref.name)
        configs = [(i.key.rsplit("/", 1)[1], i.value) for i in items]
        marker = params.get("Marker")
        if marker:
            configs = [(q, d) for q, d in configs if q > marker]
        limit = params.get("MaxItems") or DEFAULT_MAX_ITEMS
        entries = []
        for qualifier, doc in configs[:limit]:
            entry = self._wire(ctx, ref.name, qualifier, doc)
            entry["FunctionArn"] = function_arn(ctx.region, ctx.account_id, ref.name, qualifier)
            entries.append(entry)
        output: Output = {"ProvisionedConcurrencyConfigs": entries}
        if len(configs) > limit:
            output["NextMarker"] = configs[limit - 1][0]
        return output
