"""TagResource, UntagResource and ListTags on functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from roost.api.errors import InvalidParameterValueException
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.resolve import function_ref, load_function, update_function
from roost.frontend.router import Handler, Output, Params
from roost.functions.repository import FunctionRecord

MAX_TAGS = 50


def check_tags(tags: Mapping[str, str]) -> None:
    """Lambda's rules on a function's tags beyond the model: no ``aws:`` keys, at most 50."""
    if any(key.lower().startswith("aws:") for key in tags):
        raise InvalidParameterValueException("Tag keys prefixed with 'aws:' are reserved.")
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")


class TagHandlers:
    """Handlers of function tags (kept on the function record)."""

    def __init__(self, cp: ControlPlane) -> None:
        self._cp = cp

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTags": self.list_tags,
        }

    async def _record(self, ctx: RequestContext, resource: str) -> FunctionRecord:
        ref = function_ref(ctx, resource)
        if not resource.startswith("arn:"):
            raise InvalidParameterValueException(f"Invalid resource ARN: {resource}")
        if ref.qualifier:
            raise InvalidParameterValueException(
                "Tags on function aliases and versions are not supported. Please specify a "
                "function ARN."
            )
        return await load_function(self._cp, ctx, ref.name)

    async def tag_resource(self, ctx: RequestContext, params: Params) -> Output:
        tags = dict(params["Tags"])
        check_tags(tags)
        record = await self._record(ctx, params["Resource"])

        def add(current: FunctionRecord) -> FunctionRecord:
            merged = {**current.tags, **tags}
            check_tags(merged)
            return replace(current, tags=merged)

        await update_function(self._cp, ctx, record.name, add)
        return {}

    async def untag_resource(self, ctx: RequestContext, params: Params) -> Output:
        record = await self._record(ctx, params["Resource"])
        keys = set(params["TagKeys"])

        def remove(current: FunctionRecord) -> FunctionRecord:
            return replace(current, tags={k: v for k, v in current.tags.items() if k not in keys})

        await update_function(self._cp, ctx, record.name, remove)
        return {}

    async def list_tags(self, ctx: RequestContext, params: Params) -> Output:
        record = await self._record(ctx, params["Resource"])
        return {"Tags": dict(record.tags)}
