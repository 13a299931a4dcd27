"""PublishVersion and ListVersionsByFunction."""

from __future__ import annotations

from dataclasses import replace

from roost.api.errors import InvalidParameterValueException
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.functions import check_not_updating, check_revision
from roost.frontend.control.resolve import function_ref, load_function, retry_on_conflict
from roost.frontend.router import Handler, Output, Params
from roost.functions.model import FunctionConfig, new_revision_id
from roost.functions.naming import LATEST
from roost.functions.wire import configuration_to_wire, list_entry_to_wire

# Lambda answers at most 50 versions per call, whatever MaxItems asks for.
DEFAULT_MAX_ITEMS = 50


class VersionHandlers:
    """Handlers of published versions."""

    def __init__(self, cp: ControlPlane) -> None:
        self._cp = cp

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {
            "PublishVersion": self.publish_version,
            "ListVersionsByFunction": self.list_versions_by_function,
        }

    async def publish_version(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        published = await retry_on_conflict(lambda: self._publish(ctx, ref.name, params))
        return configuration_to_wire(published, ctx.region, ctx.account_id)

    async def _publish(self, ctx: RequestContext, name: str, params: Params) -> FunctionConfig:
        """One attempt: the new version, or the last one if nothing changed since."""
        record = await load_function(self._cp, ctx, name)
        latest = record.latest
        check_revision(params.get("RevisionId"), latest.revision_id)
        check_not_updating(ctx, latest)
        expected_sha = params.get("CodeSha256")
        if expected_sha and expected_sha != latest.code.code_sha256:
            raise InvalidParameterValueException(
                f"CodeSHA256 ({expected_sha}) is different from current CodeSHA256 in "
                f"$LATEST ({latest.code.code_sha256}). Please try again with the current "
                "CodeSHA256."
            )
        candidate = replace(latest, description=params.get("Description", latest.description))
        previous = await self._previous(ctx, record.name, record.last_version)
        if previous is not None and previous.fingerprint() == candidate.fingerprint():
            # Lambda does not publish a version when nothing changed since the last.
            return previous
        number = record.last_version + 1
        version = replace(candidate, version=str(number), revision_id=new_revision_id())
        await self._cp.functions.save(replace(record, last_version=number), [version])
        return version

    async def _previous(self, ctx: RequestContext, name: str, number: int) -> FunctionConfig | None:
        if number == 0:
            return None
        return await self._cp.functions.get_version(ctx.account_id, name, number)

    async def list_versions_by_function(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        record = await load_function(self._cp, ctx, ref.name)
        limit = min(params.get("MaxItems") or DEFAULT_MAX_ITEMS, DEFAULT_MAX_ITEMS)
        marker = params.get("Marker")
        entries: list[FunctionConfig] = []
        after: int | None = None
        if marker == LATEST:
            after = 0
        elif marker:
            if not marker.isdigit():
                raise InvalidParameterValueException("Invalid Marker value.")
            after = int(marker)
        else:
            entries.append(record.latest)
        entries += await self._cp.functions.list_versions(
            ctx.account_id, record.name, after=after, limit=limit + 1
        )
        output: Output = {
            "Versions": [
                list_entry_to_wire(c, ctx.region, ctx.account_id, qualified=True)
                for c in entries[:limit]
            ]
        }
        if len(entries) > limit:
            output["NextMarker"] = entries[limit - 1].version
        return output
