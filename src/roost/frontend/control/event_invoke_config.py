"""Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s).

Stored now per qualifier; the async invoke path reads them for retries, maximum
event age and destinations.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from roost.api.errors import InvalidParameterValueException, ResourceNotFoundException
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.resolve import function_ref, load_function, qualified_target
from roost.frontend.router import Handler, Output, Params
from roost.functions.attachments import AttachmentKind
from roost.functions.naming import function_arn

DEFAULT_MAX_ITEMS = 50
_SETTINGS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
# Queues, topics, functions and event buses have a region and account; buckets have neither.
_DESTINATION = re.compile(
    r"^arn:aws[a-zA-Z-]*:(?:(?:sqs|sns|lambda|events):[a-z0-9-]+:\d{12}|(?P<bucket>s3)::):.+$"
)


def _check_destinations(config: Mapping[str, Any]) -> None:
    for when in ("OnSuccess", "OnFailure"):
        destination = (config.get(when) or {}).get("Destination")
        if not destination:
            continue
        found = _DESTINATION.match(destination)
        if found is None:
            raise InvalidParameterValueException(
                f"The provided destination config DestinationConfig.{when}.Destination is "
                f"invalid: {destination} is not an SQS queue, SNS topic, Lambda function, "
                "EventBridge event bus or S3 bucket ARN."
            )
        if when == "OnSuccess" and found["bucket"]:
            raise InvalidParameterValueException(
                "S3 buckets are supported only for on-failure destinations: "
                f"DestinationConfig.OnSuccess.Destination {destination} is invalid."
            )


class EventInvokeConfigHandlers:
    """Handlers of asynchronous invocation configuration."""

    def __init__(self, cp: ControlPlane) -> None:
        self._cp = cp

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {
            "PutFunctionEventInvokeConfig": self.put,
            "UpdateFunctionEventInvokeConfig": self.update,
            "GetFunctionEventInvokeConfig": self.get,
            "DeleteFunctionEventInvokeConfig": self.delete,
            "ListFunctionEventInvokeConfigs": self.list,
        }

    async def _target(self, ctx: RequestContext, params: Params) -> tuple[str, str]:
        """The function name and qualifier the document belongs to (validated to exist)."""
        return await qualified_target(
            self._cp, ctx, params["FunctionName"], params.get("Qualifier")
        )

    def _wire(
        self, ctx: RequestContext, name: str, qualifier: str, doc: Mapping[str, Any]
    ) -> Output:
        output: Output = {
            "FunctionArn": function_arn(ctx.region, ctx.account_id, name, qualifier),
            "LastModified": dt.datetime.fromtimestamp(doc["LastModified"], dt.UTC),
        }
        output.update({k: doc[k] for k in _SETTINGS if k in doc})
        return output

    async def _save(
        self, ctx: RequestContext, name: str, qualifier: str, settings: Mapping[str, Any]
    ) -> Output:
        _check_destinations(settings.get("DestinationConfig") or {})
        document = {**settings, "LastModified": dt.datetime.now(dt.UTC).timestamp()}
        kind = AttachmentKind.EVENT_INVOKE_CONFIG
        await self._cp.store.commit(
            [self._cp.attachments.put(kind, ctx.account_id, name, qualifier, document)]
        )
        return self._wire(ctx, name, qualifier, document)

    async def _existing(self, ctx: RequestContext, name: str, qualifier: str) -> Mapping[str, Any]:
        item = await self._cp.attachments.get(
            AttachmentKind.EVENT_INVOKE_CONFIG, ctx.account_id, name, qualifier
        )
        if item is None:
            arn = function_arn(ctx.region, ctx.account_id, name, qualifier)
            raise ResourceNotFoundException(f"The function {arn} doesn't have an EventInvokeConfig")
        return item.value

    async def put(self, ctx: RequestContext, params: Params) -> Output:
        name, qualifier = await self._target(ctx, params)
        return await self._save(
            ctx, name, qualifier, {k: params[k] for k in _SETTINGS if k in params}
        )

    async def update(self, ctx: RequestContext, params: Params) -> Output:
        name, qualifier = await self._target(ctx, params)
        current = await self._existing(ctx, name, qualifier)
        merged = {k: current[k] for k in _SETTINGS if k in current}
        merged.update({k: params[k] for k in _SETTINGS if k in params})
        return await self._save(ctx, name, qualifier, merged)

    async def get(self, ctx: RequestContext, params: Params) -> Output:
        name, qualifier = await self._target(ctx, params)
        return self._wire(ctx, name, qualifier, await self._existing(ctx, name, qualifier))

    async def delete(self, ctx: RequestContext, params: Params) -> Output:
        name, qualifier = await self._target(ctx, params)
        await self._existing(ctx, name, qualifier)
        kind = AttachmentKind.EVENT_INVOKE_CONFIG
        await self._cp.store.commit(
            [self._cp.attachments.delete(kind, ctx.account_id, name, qualifier)]
        )
        return {}

    async def list(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        await load_function(self._cp, ctx, ref.name)
        items = await self._cp.attachments.list(
            AttachmentKind.EVENT_INVOKE_CONFIG, ctx.account_id, ref.name
        )
        configs = [(i.key.rsplit("/", 1)[1], i.value) for i in items]
        marker = params.get("Marker")
        if marker:
            configs = [(q, d) for q, d in configs if q > marker]
        limit = params.get("MaxItems") or DEFAULT_MAX_ITEMS
        output: Output = {
            "FunctionEventInvokeConfigs": [
                self._wire(ctx, ref.name, q, d) for q, d in configs[:limit]
            ]
        }
        if len(configs) > limit:
            output["NextMarker"] = configs[limit - 1][0]
        return output
