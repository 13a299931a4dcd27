"""CreateFunction, GetFunction(Configuration), ListFunctions, Update*, DeleteFunction."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from roost.api.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
)
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.resolve import (
    Resolved,
    function_ref,
    load_function,
    not_found,
    resolve,
    retry_on_conflict,
)
from roost.frontend.control.settings import (
    check_runtime_and_handler,
    config_changes,
    passthrough_changes,
)
from roost.frontend.control.tags import check_tags
from roost.frontend.router import Handler, Output, Params
from roost.functions.model import (
    CodeLocation,
    FunctionConfig,
    State,
    UpdateStatus,
    new_revision_id,
)
from roost.functions.naming import LATEST, function_arn, is_version, merge_qualifier
from roost.functions.package import inspect_zip
from roost.functions.repository import FunctionRecord
from roost.functions.wire import configuration_to_wire, list_entry_to_wire
from roost.store.errors import ConditionFailed

# Lambda answers at most 50 functions per call, whatever MaxItems asks for.
DEFAULT_LIST_MAX_ITEMS = 50

# AWS answers an update with reason code "Creating", which is not a value of the
# model's LastUpdateStatusReasonCode enum; Roost leaves the code out instead.
UPDATE_IN_PROGRESS: Mapping[str, Any] = MappingProxyType(
    {
        "last_update_status": UpdateStatus.IN_PROGRESS,
        "last_update_status_reason": "The function is being created.",
        "last_update_status_reason_code": None,
    }
)


def check_revision(expected: str | None, actual: str) -> None:
    """Optimistic concurrency: a given ``RevisionId`` must be the current one."""
    if expected is not None and expected != actual:
        raise PreconditionFailedException(
            "The Revision Id provided does not match the latest Revision Id. Call the "
            "GetFunction/GetAlias API to retrieve the latest Revision Id"
        )


def check_not_updating(ctx: RequestContext, config: FunctionConfig) -> None:
    """AWS refuses a change while the previous one is still being applied."""
    if config.last_update_status is UpdateStatus.IN_PROGRESS or config.state is State.PENDING:
        raise ResourceConflictException(
            "The operation cannot be performed at this time. An update is in progress for "
            f"resource: {function_arn(ctx.region, ctx.account_id, config.name)}"
        )


class FunctionHandlers:
    """Handlers of the function resource."""

    def __init__(self, cp: ControlPlane) -> None:
        self._cp = cp

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {
            "CreateFunction": self.create_function,
            "GetFunction": self.get_function,
            "GetFunctionConfiguration": self.get_function_configuration,
            "ListFunctions": self.list_functions,
            "UpdateFunctionCode": self.update_function_code,
            "UpdateFunctionConfiguration": self.update_function_configuration,
            "DeleteFunction": self.delete_function,
        }

    def _wire(self, ctx: RequestContext, config: FunctionConfig) -> dict[str, Any]:
        return configuration_to_wire(config, ctx.region, ctx.account_id)

    def _wire_resolved(self, ctx: RequestContext, found: Resolved) -> dict[str, Any]:
        """A resolved version's configuration; AWS qualifies its ARN as the request did."""
        wire = self._wire(ctx, found.config)
        if found.qualifier is not None:
            wire["FunctionArn"] = function_arn(
                ctx.region, ctx.account_id, found.config.name, found.qualifier
            )
        return wire

    async def _store_code(self, code: Params, *, keep: bool = True) -> CodeLocation:
        if "ZipFile" not in code:
            unsupported = ", ".join(sorted(code)) or "no code"
            raise InvalidParameterValueException(
                f"Roost accepts function code as ZipFile only (got {unsupported})."
            )
        # Hashing and parsing up to 50 MB is CPU work: keep it off the event loop.
        limits = self._cp.limits
        info = await asyncio.to_thread(
            inspect_zip,
            bytes(code["ZipFile"]),
            max_zipped_bytes=limits.code_size_zipped_bytes,
            max_unzipped_bytes=limits.code_size_unzipped_bytes,
        )
        if keep:
            await self._cp.code.put(bytes(code["ZipFile"]))
        return CodeLocation(info.sha256_hex, info.code_sha256, info.code_size_bytes)

    async def create_function(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        if ref.qualifier:
            raise InvalidParameterValueException("Function name cannot be qualified on create.")
        if params.get("PackageType", "Zip") != "Zip":
            raise InvalidParameterValueException("Roost supports PackageType Zip only.")
        check_runtime_and_handler(params.get("Runtime"), params.get("Handler"))
        check_tags(params.get("Tags") or {})
        changes = config_changes(params, for_update=False)
        if await self._cp.functions.get(ctx.account_id, ref.name) is not None:
            raise self._exists(ref.name)
        code = await self._store_code(params["Code"])
        latest = FunctionConfig(
            name=ref.name,
            code=code,
            passthrough=passthrough_changes(params, {}),
            state_reason="The function is being created.",
            state_reason_code="Creating",
            **changes,
        )
        record = FunctionRecord(ctx.account_id, latest, tags=dict(params.get("Tags") or {}))
        versions: list[FunctionConfig] = []
        if params.get("Publish"):
            # A published version has its own RevisionId, not $LATEST's.
            versions.append(replace(latest, version="1", revision_id=new_revision_id()))
            record = replace(record, last_version=1)
        try:
            await self._cp.functions.create(record, versions)
        except ConditionFailed:
            raise self._exists(ref.name) from None
        self._cp.activator.schedule(ctx.account_id, ref.name)
        return self._wire(ctx, versions[0] if versions else latest)

    @staticmethod
    def _exists(name: str) -> ResourceConflictException:
        return ResourceConflictException(f"Function already exist: {name}")

    async def get_function(self, ctx: RequestContext, params: Params) -> Output:
        found = await resolve(self._cp, ctx, params["FunctionName"], params.get("Qualifier"))
        output: Output = {
            "Configuration": self._wire_resolved(ctx, found),
            "Code": {
                "RepositoryType": "S3",
                "Location": self._cp.code_links.link(ctx.endpoint, found.config.code.sha256_hex),
            },
        }
        if found.record.tags:
            output["Tags"] = dict(found.record.tags)
        if found.record.reserved_concurrency is not None:
            output["Concurrency"] = {
                "ReservedConcurrentExecutions": found.record.reserved_concurrency
            }
        return output

    async def get_function_configuration(self, ctx: RequestContext, params: Params) -> Output:
        found = await resolve(self._cp, ctx, params["FunctionName"], params.get("Qualifier"))
        return self._wire_resolved(ctx, found)

    async def list_functions(self, ctx: RequestContext, params: Params) -> Output:
        limit = min(params.get("MaxItems") or DEFAULT_LIST_MAX_ITEMS, DEFAULT_LIST_MAX_ITEMS)
        all_versions = params.get("FunctionVersion") == "ALL"
        entries: list[FunctionConfig] = []
        more = False
        marker = _decode_marker(params.get("Marker"))
        # One entry past the page tells whether there is a next page.
        entries_after = self._entries_after(ctx.account_id, marker, all_versions, limit + 1)
        async for config in entries_after:
            if len(entries) == limit:
                more = True
                break
            entries.append(config)
        output: Output = {
            "Functions": [
                list_entry_to_wire(c, ctx.region, ctx.account_id, qualified=all_versions)
                for c in entries
            ]
        }
        if more:
            last = entries[-1]
            position = 0 if last.version == LATEST else int(last.version)
            output["NextMarker"] = _encode_marker(last.name, position if all_versions else None)
        return output

    async def _entries_after(
        self,
        account_id: str,
        marker: tuple[str, int | None] | None,
        all_versions: bool,
        read_size: int,
    ) -> AsyncIterator[FunctionConfig]:
        """$LATEST of each function (and its versions with ALL) after a marker position.

        Records are read ``read_size`` at a time, so a page reads what it returns.
        """
        start = marker[0] if marker else None
        if marker is not None and marker[1] is not None:
            name, after_version = marker
            if await self._cp.functions.get(account_id, name) is not None:
                for config in await self._cp.functions.list_versions(
                    account_id, name, after=after_version
                ):
                    yield config
        while True:
            page = await self._cp.functions.list(account_id, start_after=start, limit=read_size)
            for record in page:
                yield record.latest
                if all_versions:
                    for config in await self._cp.functions.list_versions(account_id, record.name):
                        yield config
            if len(page) < read_size:
                return
            start = page[-1].name

    async def update_function_code(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        code_params: Params = {
            k: params[k] for k in ("ZipFile", "S3Bucket", "S3Key", "ImageUri") if k in params
        }
        # Look the function up first: a call that fails must leave no blob behind.
        record = await load_function(self._cp, ctx, ref.name)
        if params.get("DryRun"):
            code = await self._store_code(code_params, keep=False)
            return self._wire(ctx, replace(record.latest, code=code))
        code = await self._store_code(code_params)
        changes: dict[str, Any] = {"code": code}
        if "Architectures" in params:
            changes["architectures"] = tuple(params["Architectures"])

        async def attempt() -> FunctionConfig:
            record = await load_function(self._cp, ctx, ref.name)
            check_revision(params.get("RevisionId"), record.latest.revision_id)
            check_not_updating(ctx, record.latest)
            latest = record.latest.revised(**changes, **UPDATE_IN_PROGRESS)
            return await self._save_latest(ctx, record, latest, bool(params.get("Publish")))

        return self._wire(ctx, await retry_on_conflict(attempt))

    async def _save_latest(
        self, ctx: RequestContext, record: FunctionRecord, latest: FunctionConfig, publish: bool
    ) -> FunctionConfig:
        """Save a new $LATEST (and the version it publishes); ``ConditionFailed`` on a race."""
        versions: list[FunctionConfig] = []
        record = replace(record, latest=latest)
        if publish:
            version = replace(
                latest, version=str(record.last_version + 1), revision_id=new_revision_id()
            )
            versions.append(version)
            record = replace(record, last_version=record.last_version + 1)
        await self._cp.functions.save(record, versions)
        self._cp.activator.schedule(ctx.account_id, record.name)
        return versions[0] if versions else latest

    async def update_function_configuration(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        changes = config_changes(params, for_update=True)

        async def attempt() -> FunctionConfig:
            record = await load_function(self._cp, ctx, ref.name)
            current = record.latest
            check_revision(params.get("RevisionId"), current.revision_id)
            check_not_updating(ctx, current)
            check_runtime_and_handler(
                changes.get("runtime", current.runtime), changes.get("handler", current.handler)
            )
            latest = current.revised(
                **changes,
                passthrough=passthrough_changes(params, current.passthrough),
                **UPDATE_IN_PROGRESS,
            )
            return await self._save_latest(ctx, record, latest, publish=False)

        return self._wire(ctx, await retry_on_conflict(attempt))

    async def delete_function(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        # A qualifier in the name and another in Qualifier is refused, as GetFunction does.
        qualifier = merge_qualifier(ref, params.get("Qualifier"))
        await retry_on_conflict(lambda: self._delete(ctx, ref.name, qualifier))
        return {"StatusCode": 204}

    async def _delete(self, ctx: RequestContext, name: str, qualifier: str | None) -> None:
        """One attempt at DeleteFunction; ``ConditionFailed`` if something changed meanwhile."""
        # The record is read first: the version and alias reads below are only as of a
        # record revision that the conditional delete then checks is still current.
        record = await load_function(self._cp, ctx, name)
        if qualifier is None:
            await self._cp.functions.delete(record)
            return
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "$LATEST version cannot be deleted without deleting the function."
            )
        if not is_version(qualifier):
            raise InvalidParameterValueException(
                "Deletion of aliases is not supported through DeleteFunction; use DeleteAlias."
            )
        version = int(qualifier)
        if await self._cp.functions.get_version(ctx.account_id, record.name, version) is None:
            raise not_found(ctx, record.name, qualifier)
        users = [
            a.name
            for a in await self._cp.aliases.list(ctx.account_id, record.name)
            if qualifier in a.versions()
        ]
        if users:
            raise ResourceConflictException(
                "Unable to delete version because the following aliases reference it: "
                f"[{', '.join(users)}]"
            )
        await self._cp.functions.delete_version(record, version)


def _encode_marker(name: str, version: int | None) -> str:
    raw = json.dumps([name, version]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_marker(marker: str | None) -> tuple[str, int | None] | None:
    if not marker:
        return None
    try:
        name, version = json.loads(base64.urlsafe_b64decode(marker.encode()))
        if not isinstance(name, str) or not (version is None or isinstance(version, int)):
            raise ValueError
        return name, version
    except (ValueError, TypeError, binascii.Error):
        raise InvalidParameterValueException("Invalid Marker value.") from None
