"""Create/Get/Update/Delete/ListEventSourceMappings.

Requests are checked against the model before they get here; this module adds
Lambda's own rules (``roost.esm.validation``), resolves the function, and writes
through ``MappingRepository``. A write is answered in a transitional state
(``Creating``, ``Updating``, ``Enabling``, ``Disabling``, ``Deleting``) and the
``MappingActivator`` completes it. Mappings outlive their function, as on AWS:
``DeleteFunction`` leaves them in place (the pollers find the function missing)
and they keep working if a function of that name is created again.
"""

from __future__ import annotations

import dataclasses
import uuid as uuid_module
from collections.abc import Mapping
from typing import Any

from roost.api.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from roost.esm.lifecycle import MappingActivator
from roost.esm.mapping import EventSourceMapping, MappingSettings, settings_from_wire
from roost.esm.repository import MappingRepository
from roost.esm.sources import EventSource, SourceType, source_of_arn, source_of_kafka
from roost.esm.sqs.visibility_check import QueueInspector, check_visibility_timeout
from roost.esm.states import (
    USER_INITIATED,
    IllegalTransition,
    begin_delete,
    begin_update,
    initial_state,
)
from roost.esm.validation import check_settings, with_defaults
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.resolve import function_ref
from roost.frontend.control.tags import check_tags
from roost.frontend.router import Handler, Output, Params
from roost.functions.naming import LATEST, check_region, function_arn, is_version
from roost.store.errors import ConditionFailed, DuplicateMapping

# ListEventSourceMappings answers 100 mappings per page unless MaxItems says otherwise.
DEFAULT_MAX_ITEMS = 100
# What AWS reports for a stream or topic mapping that has not polled yet.
NO_RECORDS_PROCESSED = "No records processed"
# Settings whose empty value means "remove it" on update.
_CLEARABLE = ("filter_criteria", "scaling_config", "provisioned_poller_config")


def _not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("The resource you requested does not exist.")


def _in_use(action: str) -> ResourceInUseException:
    return ResourceInUseException(f"Cannot {action} the event source mapping because it is in use.")


def _normalised(changes: dict[str, Any]) -> dict[str, Any]:
    """Empty ``FilterCriteria``/``ScalingConfig``/... remove the setting."""
    for name in _CLEARABLE:
        value = changes.get(name)
        if value is not None and not any(v for v in value.values()):
            changes[name] = None
    return changes


def _duplicate(mapping: EventSourceMapping, name: str, existing: str) -> ResourceConflictException:
    """AWS's conflict message, which differs by source type."""
    tail = f"Please update or delete the existing mapping with UUID {existing}"
    source = mapping.source
    if source.type is SourceType.SQS:
        message = (
            f'An event source mapping with SQS arn (" {source.arn} ") and function '
            f'(" {name} ") already exists. {tail}'
        )
    elif source.type is SourceType.KAFKA:
        servers = ",".join(source.bootstrap_servers)
        topics = ",".join(mapping.settings.topics or ())
        message = (
            f'An event source mapping with event source ("{servers}"), function '
            f'("{mapping.function_arn}"), topics ("{topics}") already exists. {tail}'
        )
    else:
        message = (
            f'The event source arn (" {source.arn} ") and function (" {name} ") provided '
            f"mapping already exists. {tail}"
        )
    return ResourceConflictException(message)


class EventSourceMappingHandlers:
    """Handlers of the event source mapping resource."""

    def __init__(
        self,
        cp: ControlPlane,
        mappings: MappingRepository,
        activator: MappingActivator,
        queues: QueueInspector | None = None,
    ) -> None:
        """``queues`` reads SQS queues for AWS's create-time visibility check
        (skipped without it: a node with no event source pollers)."""
        self._cp = cp
        self._mappings = mappings
        self._activator = activator
        self._queues = queues

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {
            "CreateEventSourceMapping": self.create,
            "GetEventSourceMapping": self.get,
            "UpdateEventSourceMapping": self.update,
            "DeleteEventSourceMapping": self.delete,
            "ListEventSourceMappings": self.list,
        }

    async def _function(self, ctx: RequestContext, value: str) -> tuple[str, str]:
        """The (name, function ARN) a ``FunctionName`` names; it must exist.

        AWS answers a missing function or qualifier with InvalidParameterValueException
        here, not with the 404 other operations give.
        """
        name, arn, _ = await self._function_and_timeout(ctx, value)
        return name, arn

    async def _function_and_timeout(self, ctx: RequestContext, value: str) -> tuple[str, str, int]:
        """``_function``, and the timeout of the version the mapping would invoke."""
        check_region(value, ctx.region)
        ref = function_ref(ctx, value)
        record = await self._cp.functions.get(ctx.account_id, ref.name)
        if record is None:
            raise InvalidParameterValueException("Function does not exist")
        qualifier = ref.qualifier
        config = record.latest
        version: str | None = qualifier
        if qualifier is not None and qualifier != LATEST and not is_version(qualifier):
            alias = await self._cp.aliases.get(ctx.account_id, ref.name, qualifier)
            if alias is None:
                raise InvalidParameterValueException("Function does not exist")
            version = alias.function_version
        if version is not None and version != LATEST:
            found = await self._cp.functions.get_version(ctx.account_id, ref.name, int(version))
            if found is None:
                raise InvalidParameterValueException("Function does not exist")
            config = found
        arn = function_arn(ctx.region, ctx.account_id, ref.name, qualifier)
        return ref.name, arn, config.timeout_s

    async def _owned(self, ctx: RequestContext, uuid: str) -> EventSourceMapping:
        """The caller's mapping; another account's is as missing as a deleted one."""
        mapping = await self._mappings.get(uuid)
        if mapping is None or mapping.account_id != ctx.account_id:
            raise _not_found()
        return mapping

    async def create(self, ctx: RequestContext, params: Params) -> Output:
        name, target, timeout_s = await self._function_and_timeout(ctx, params["FunctionName"])
        source = _source(params)
        if source.type is SourceType.SQS and self._queues is not None and source.arn:
            visibility_s = await self._queues.visibility_timeout_s(source.arn)
            check_visibility_timeout(visibility_s, timeout_s)
        uuid = str(uuid_module.uuid4())
        settings = with_defaults(source, uuid, _normalised(settings_from_wire(params)))
        check_settings(source, settings)
        tags = dict(params.get("Tags") or {})
        check_tags(tags)
        mapping = EventSourceMapping(
            uuid=uuid,
            account_id=ctx.account_id,
            region=ctx.region,
            function_arn=target,
            source=source,
            settings=settings,
            enabled=params.get("Enabled", True),
            state=initial_state(),
            state_transition_reason=USER_INITIATED,
            last_modified_s=self._mappings.now_s(),
            last_processing_result=NO_RECORDS_PROCESSED if source.type.is_positioned else None,
            tags=tags,
        )
        try:
            created = await self._mappings.create(mapping)
        except DuplicateMapping as duplicate:
            raise _duplicate(mapping, name, duplicate.existing_uuid) from None
        self._activator.schedule(uuid)
        return created.to_wire()

    async def get(self, ctx: RequestContext, params: Params) -> Output:
        return (await self._owned(ctx, params["UUID"])).to_wire()

    async def update(self, ctx: RequestContext, params: Params) -> Output:
        uuid = params["UUID"]
        await self._owned(ctx, uuid)
        target: tuple[str, str] | None = None
        if "FunctionName" in params:
            target = await self._function(ctx, params["FunctionName"])
        changes = _normalised(settings_from_wire(params))

        def change(current: EventSourceMapping) -> EventSourceMapping:
            return _updated(current, changes, params.get("Enabled"), target, self._mappings.now_s())

        try:
            updated = await self._mappings.transition(uuid, change)
        except DuplicateMapping as duplicate:
            name = target[0] if target else uuid
            current = await self._owned(ctx, uuid)
            raise _duplicate(current, name, duplicate.existing_uuid) from None
        except ConditionFailed:
            raise ResourceConflictException(
                "The event source mapping changed concurrently; retry the call."
            ) from None
        if updated is None:
            raise _not_found()
        self._activator.schedule(uuid)
        return updated.to_wire()

    async def delete(self, ctx: RequestContext, params: Params) -> Output:
        uuid = params["UUID"]
        await self._owned(ctx, uuid)

        def change(current: EventSourceMapping) -> EventSourceMapping:
            try:
                state = begin_delete(current.state)
            except IllegalTransition:
                raise _in_use("delete") from None
            return dataclasses.replace(
                current,
                state=state,
                state_transition_reason=USER_INITIATED,
                last_modified_s=self._mappings.now_s(),
            )

        try:
            deleting = await self._mappings.transition(uuid, change)
        except ConditionFailed:
            raise ResourceConflictException(
                "The event source mapping changed concurrently; retry the call."
            ) from None
        if deleting is None:
            raise _not_found()
        self._activator.schedule(uuid)
        return deleting.to_wire()

    async def list(self, ctx: RequestContext, params: Params) -> Output:
        mappings = await self._mappings.list(
            account_id=ctx.account_id,
            source_key=params.get("EventSourceArn"),
            start_after=params.get("Marker") or None,
        )
        if "FunctionName" in params:
            mappings = [m for m in mappings if _targets(m, ctx, params["FunctionName"])]
        limit = params.get("MaxItems") or DEFAULT_MAX_ITEMS
        output: Output = {"EventSourceMappings": [m.to_wire() for m in mappings[:limit]]}
        if len(mappings) > limit:
            output["NextMarker"] = mappings[limit - 1].uuid
        return output


def _source(params: Params) -> EventSource:
    """The source a create request names: an ARN or a self-managed Kafka cluster."""
    self_managed = params.get("SelfManagedEventSource")
    arn = params.get("EventSourceArn")
    if self_managed is not None and arn is not None:
        raise InvalidParameterValueException(
            "EventSourceArn and SelfManagedEventSource cannot both be specified."
        )
    if self_managed is not None:
        return source_of_kafka(self_managed)
    if not arn:
        raise InvalidParameterValueException("Unrecognized event source.")
    return source_of_arn(arn)


def _targets(mapping: EventSourceMapping, ctx: RequestContext, value: str) -> bool:
    """Whether ``FunctionName`` (any form) names the mapping's function.

    An unqualified name also matches mappings of the function's versions and aliases.
    The function need not exist: mappings outlive the function they invoke.
    """
    ref = function_ref(ctx, value)
    wanted = function_arn(ctx.region, ctx.account_id, ref.name, ref.qualifier)
    if ref.qualifier is not None:
        return mapping.function_arn == wanted
    return mapping.function_arn == wanted or mapping.function_arn.startswith(wanted + ":")


def _updated(
    current: EventSourceMapping,
    changes: Mapping[str, Any],
    enabled: bool | None,
    target: tuple[str, str] | None,
    now_s: float,
) -> EventSourceMapping:
    """The mapping after an update request, checked as a whole; refuses if in transition."""
    new_enabled = current.enabled if enabled is None else enabled
    try:
        state = begin_update(current.state, was_enabled=current.enabled, enabled=new_enabled)
    except IllegalTransition:
        raise _in_use("update") from None
    settings: MappingSettings = dataclasses.replace(current.settings, **changes)
    check_settings(current.source, settings)
    return dataclasses.replace(
        current,
        function_arn=target[1] if target else current.function_arn,
        settings=settings,
        enabled=new_enabled,
        state=state,
        state_transition_reason=USER_INITIATED,
        last_modified_s=now_s,
    )
