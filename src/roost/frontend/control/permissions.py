"""AddPermission, RemovePermission and GetPolicy: the function's resource policy.

The policy is stored per qualifier as an IAM policy document; Roost keeps it for
the async and event-source issues to consult, and returns it as AWS does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from roost.api.errors import (
    AwsError,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.frontend.control.resolve import qualified_target, retry_on_conflict
from roost.frontend.router import Handler, Output, Params
from roost.functions.attachments import AttachmentKind
from roost.functions.model import new_revision_id
from roost.functions.naming import LATEST, function_arn
from roost.store.errors import ConditionFailed
from roost.store.ports import Write

POLICY_MAX_BYTES = 20 * 1024
_ACCOUNT = re.compile(r"^\d{12}$")


def _principal(value: str) -> Any:
    if value == "*":
        return "*"
    if _ACCOUNT.match(value):
        return {"AWS": f"arn:aws:iam::{value}:root"}
    if value.startswith("arn:"):
        return {"AWS": value}
    return {"Service": value}


def statement_for(params: Mapping[str, Any], resource: str) -> dict[str, Any]:
    """The IAM statement AddPermission adds, in the shape AWS returns."""
    statement: dict[str, Any] = {
        "Sid": params["StatementId"],
        "Effect": "Allow",
        "Principal": _principal(params["Principal"]),
        "Action": params["Action"],
        "Resource": resource,
    }
    conditions: dict[str, dict[str, str]] = {}
    if params.get("SourceArn"):
        conditions.setdefault("ArnLike", {})["AWS:SourceArn"] = params["SourceArn"]
    if params.get("SourceAccount"):
        conditions.setdefault("StringEquals", {})["AWS:SourceAccount"] = params["SourceAccount"]
    if params.get("PrincipalOrgID"):
        conditions.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
    if params.get("EventSourceToken"):
        conditions.setdefault("StringEquals", {})["lambda:EventSourceToken"] = params[
            "EventSourceToken"
        ]
    if params.get("FunctionUrlAuthType"):
        conditions.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = params[
            "FunctionUrlAuthType"
        ]
    if conditions:
        statement["Condition"] = conditions
    return statement


class PermissionHandlers:
    """Handlers of the function's resource-based policy."""

    def __init__(self, cp: ControlPlane) -> None:
        self._cp = cp

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {
            "AddPermission": self.add_permission,
            "RemovePermission": self.remove_permission,
            "GetPolicy": self.get_policy,
        }

    async def _target(self, ctx: RequestContext, params: Params) -> tuple[str, str]:
        """The function name and qualifier the document belongs to (validated to exist)."""
        return await qualified_target(
            self._cp, ctx, params["FunctionName"], params.get("Qualifier")
        )

    async def add_permission(self, ctx: RequestContext, params: Params) -> Output:
        name, qualifier = await self._target(ctx, params)
        resource = function_arn(
            ctx.region, ctx.account_id, name, None if qualifier == LATEST else qualifier
        )
        statement = statement_for(params, resource)
        kind = AttachmentKind.POLICY
        item = await self._cp.attachments.get(kind, ctx.account_id, name, qualifier)
        policy: dict[str, Any] = (
            dict(item.value)
            if item
            else {"Version": "2012-10-17", "Id": "default", "Statement": []}
        )
        if item and params.get("RevisionId") not in (None, item.value.get("RevisionId")):
            raise _revision_mismatch()
        if any(s["Sid"] == statement["Sid"] for s in policy["Statement"]):
            raise ResourceConflictException(
                "The statement id (sid) provided already exists. Please specify a new statement "
                "id, or remove the existing statement."
            )
        policy["Statement"] = [*policy["Statement"], statement]
        policy["RevisionId"] = new_revision_id()
        if len(json.dumps(policy).encode()) > POLICY_MAX_BYTES:
            raise AwsError(
                "The final policy size is bigger than the limit.",
                code="PolicyLengthExceededException",
            )
        write = self._cp.attachments.put(
            kind,
            ctx.account_id,
            name,
            qualifier,
            policy,
            if_revision=item.revision if item else None,
            if_absent=item is None,
        )
        try:
            await self._cp.store.commit([write])
        except ConditionFailed:
            raise ResourceConflictException(
                "The policy changed concurrently; retry the call."
            ) from None
        return {"Statement": json.dumps(statement, separators=(",", ":"))}

    async def remove_permission(self, ctx: RequestContext, params: Params) -> Output:
        await retry_on_conflict(lambda: self._remove_statement(ctx, params), "policy")
        return {}

    async def _remove_statement(self, ctx: RequestContext, params: Params) -> None:
        """One attempt at RemovePermission; ``ConditionFailed`` if the policy changed."""
        name, qualifier = await self._target(ctx, params)
        kind = AttachmentKind.POLICY
        item = await self._cp.attachments.get(kind, ctx.account_id, name, qualifier)
        sid = params["StatementId"]
        statements = list(item.value["Statement"]) if item else []
        if item is None or not any(s["Sid"] == sid for s in statements):
            raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
        if params.get("RevisionId") not in (None, item.value.get("RevisionId")):
            raise _revision_mismatch()
        remaining = [s for s in statements if s["Sid"] != sid]
        write: Write
        if remaining:
            policy = {**item.value, "Statement": remaining, "RevisionId": new_revision_id()}
            write = self._cp.attachments.put(
                kind, ctx.account_id, name, qualifier, policy, if_revision=item.revision
            )
        else:
            write = self._cp.attachments.delete(
                kind, ctx.account_id, name, qualifier, if_revision=item.revision
            )
        await self._cp.store.commit([write])

    async def get_policy(self, ctx: RequestContext, params: Params) -> Output:
        name, qualifier = await self._target(ctx, params)
        item = await self._cp.attachments.get(
            AttachmentKind.POLICY, ctx.account_id, name, qualifier
        )
        if item is None:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        policy = {k: v for k, v in item.value.items() if k != "RevisionId"}
        return {
            "Policy": json.dumps(policy, separators=(",", ":")),
            "RevisionId": item.value["RevisionId"],
        }


def _revision_mismatch() -> PreconditionFailedException:
    return PreconditionFailedException(
        "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy "
        "API to retrieve the latest Revision Id"
    )
