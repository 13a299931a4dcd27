"""Create/Get/Update/Delete/ListAliases, with weighted routing between two versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from roost.api.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.functions import check_revision
from roost.frontend.control.resolve import (
    function_ref,
    load_function,
    not_found,
    retry_on_conflict,
)
from roost.frontend.router import Handler, Output, Params
from roost.functions.aliases import Alias
from roost.functions.attachments import AttachmentKind
from roost.functions.naming import LATEST, function_arn, is_version
from roost.functions.repository import FunctionRecord
from roost.functions.wire import alias_to_wire
from roost.store.errors import ConditionFailed
from roost.store.ports import Write

DEFAULT_MAX_ITEMS = 50


class AliasHandlers:
    """Handlers of the alias resource."""

    def __init__(self, cp: ControlPlane) -> None:
        self._cp = cp

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {
            "CreateAlias": self.create_alias,
            "GetAlias": self.get_alias,
            "UpdateAlias": self.update_alias,
            "DeleteAlias": self.delete_alias,
            "ListAliases": self.list_aliases,
        }

    async def _check_targets(
        self, ctx: RequestContext, name: str, version: str, weights: Mapping[str, float]
    ) -> None:
        if weights and version == LATEST:
            raise InvalidParameterValueException(
                "$LATEST is not supported for an alias pointing to more than 1 version"
            )
        for target in {version, *weights}:
            if target == LATEST:
                continue
            exists = is_version(target) and await self._cp.functions.get_version(
                ctx.account_id, name, int(target)
            )
            if not exists:
                raise not_found(ctx, name, target)
        if version in weights:
            raise InvalidParameterValueException(
                "Invalid function version in AdditionalVersionWeights: the primary version "
                f"{version} cannot also be an additional version."
            )

    def _alias_arn(self, ctx: RequestContext, function: str, alias: str) -> str:
        return function_arn(ctx.region, ctx.account_id, function, alias)

    async def _load(self, ctx: RequestContext, function: str, name: str) -> Alias:
        alias = await self._cp.aliases.get(ctx.account_id, function, name)
        if alias is None:
            raise ResourceNotFoundException(
                f"Alias not found: {self._alias_arn(ctx, function, name)}"
            )
        return alias

    async def _save(self, record: FunctionRecord, *writes: Write) -> None:
        """Commit alias writes with the record they were checked against.

        Rewriting the record conditionally serialises every alias write and version
        delete of the function: ``ConditionFailed`` means one got in between, and the
        caller's attempt is re-run on a fresh read.
        """
        await self._cp.functions.save(record, also=writes)

    async def create_alias(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])

        async def attempt() -> Alias:
            record = await load_function(self._cp, ctx, ref.name)
            weights = _weights(params.get("RoutingConfig"))
            await self._check_targets(ctx, record.name, params["FunctionVersion"], weights)
            alias = Alias(
                name=params["Name"],
                function_name=record.name,
                function_version=params["FunctionVersion"],
                description=params.get("Description", ""),
                routing_weights=weights,
            )
            write = self._cp.aliases.put(ctx.account_id, alias, create=True)
            try:
                await self._save(record, write)
            except ConditionFailed as failed:
                if failed.key != write.key:
                    raise
                raise ResourceConflictException(
                    f"Alias already exists: {self._alias_arn(ctx, record.name, alias.name)}"
                ) from None
            return alias

        alias = await retry_on_conflict(attempt)
        return alias_to_wire(alias, ctx.region, ctx.account_id)

    async def get_alias(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        await load_function(self._cp, ctx, ref.name)
        alias = await self._load(ctx, ref.name, params["Name"])
        return alias_to_wire(alias, ctx.region, ctx.account_id)

    async def update_alias(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])

        async def attempt() -> Alias:
            record = await load_function(self._cp, ctx, ref.name)
            current = await self._load(ctx, ref.name, params["Name"])
            check_revision(params.get("RevisionId"), current.revision_id)
            changes: dict[str, Any] = {}
            if "FunctionVersion" in params:
                changes["function_version"] = params["FunctionVersion"]
            if "Description" in params:
                changes["description"] = params["Description"]
            if "RoutingConfig" in params:
                changes["routing_weights"] = _weights(params["RoutingConfig"])
            alias = current.revised(**changes)
            await self._check_targets(ctx, ref.name, alias.function_version, alias.routing_weights)
            await self._save(record, self._cp.aliases.put(ctx.account_id, alias, create=False))
            return alias

        alias = await retry_on_conflict(attempt)
        return alias_to_wire(alias, ctx.region, ctx.account_id)

    async def delete_alias(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])

        async def attempt() -> None:
            record = await load_function(self._cp, ctx, ref.name)
            alias = await self._load(ctx, ref.name, params["Name"])
            attachments = self._cp.attachments
            await self._save(
                record,
                self._cp.aliases.delete(ctx.account_id, ref.name, alias.name),
                *(
                    attachments.delete(kind, ctx.account_id, ref.name, alias.name)
                    for kind in AttachmentKind
                ),
            )

        await retry_on_conflict(attempt)
        return {}

    async def list_aliases(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        await load_function(self._cp, ctx, ref.name)
        aliases = await self._cp.aliases.list(ctx.account_id, ref.name)
        version = params.get("FunctionVersion")
        if version:
            aliases = [a for a in aliases if version in a.versions()]
        marker = params.get("Marker")
        if marker:
            aliases = [a for a in aliases if a.name > marker]
        limit = params.get("MaxItems") or DEFAULT_MAX_ITEMS
        output: Output = {
            "Aliases": [alias_to_wire(a, ctx.region, ctx.account_id) for a in aliases[:limit]]
        }
        if len(aliases) > limit:
            output["NextMarker"] = aliases[limit - 1].name
        return output


def _weights(routing: Mapping[str, Any] | None) -> dict[str, float]:
    weights = dict((routing or {}).get("AdditionalVersionWeights") or {})
    if len(weights) > 1:
        raise InvalidParameterValueException(
            "Number of items in AdditionalVersionWeights cannot be greater than 1"
        )
    return {str(k): float(v) for k, v in weights.items()}
