"""Finding the function, version or alias a request names, with AWS's errors."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from roost.api.errors import ResourceConflictException, ResourceNotFoundException
from roost.frontend.context import RequestContext
from roost.frontend.control.deps import ControlPlane
from roost.functions.aliases import Alias
from roost.functions.model import FunctionConfig
from roost.functions.naming import (
    LATEST,
    FunctionRef,
    access_denied,
    function_arn,
    is_version,
    merge_qualifier,
    parse_function_name,
)
from roost.functions.repository import FunctionRecord
from roost.store.errors import ConditionFailed


def function_ref(ctx: RequestContext, value: str) -> FunctionRef:
    """Parse ``FunctionName`` and refuse names of another account."""
    ref = parse_function_name(value)
    if ref.account_id is not None and ref.account_id != ctx.account_id:
        raise access_denied(
            ctx.account_id,
            ctx.operation,
            function_arn(ref.region or ctx.region, ref.account_id, ref.name, ref.qualifier),
        )
    return ref


def not_found(
    ctx: RequestContext, name: str, qualifier: str | None = None
) -> ResourceNotFoundException:
    """``Function not found: arn``, AWS's message for a missing function or version."""
    return ResourceNotFoundException(
        f"Function not found: {function_arn(ctx.region, ctx.account_id, name, qualifier)}"
    )


async def load_function(cp: ControlPlane, ctx: RequestContext, name: str) -> FunctionRecord:
    """The function record a request names; ``ResourceNotFoundException`` if none."""
    record = await cp.functions.get(ctx.account_id, name)
    if record is None:
        raise not_found(ctx, name)
    return record


@dataclass(frozen=True)
class Resolved:
    """A function with the version a qualifier selects (and the alias, if one did)."""

    record: FunctionRecord
    config: FunctionConfig
    alias: Alias | None = None
    qualifier: str | None = None
    """The qualifier the request gave, in its name or ``Qualifier`` (None if neither)."""


async def resolve(
    cp: ControlPlane, ctx: RequestContext, function_name: str, qualifier: str | None = None
) -> Resolved:
    """Resolve ``FunctionName`` plus ``Qualifier`` to one version's configuration."""
    ref = function_ref(ctx, function_name)
    qualifier = merge_qualifier(ref, qualifier)
    record = await load_function(cp, ctx, ref.name)
    if qualifier is None or qualifier == LATEST:
        return Resolved(record, record.latest, qualifier=qualifier)
    alias = None
    version = qualifier
    if not is_version(qualifier):
        alias = await cp.aliases.get(ctx.account_id, ref.name, qualifier)
        if alias is None:
            raise not_found(ctx, ref.name, qualifier)
        version = alias.function_version
        if version == LATEST:
            return Resolved(record, record.latest, alias, qualifier)
    config = await cp.functions.get_version(ctx.account_id, ref.name, int(version))
    if config is None:
        raise not_found(ctx, ref.name, qualifier)
    return Resolved(record, config, alias, qualifier)


async def qualified_target(
    cp: ControlPlane, ctx: RequestContext, function_name: str, qualifier: str | None
) -> tuple[str, str]:
    """Name and qualifier ($LATEST if none) of a per-qualifier resource, checked to exist."""
    ref = function_ref(ctx, function_name)
    effective = merge_qualifier(ref, qualifier) or LATEST
    await resolve(cp, ctx, ref.name, effective)
    return ref.name, effective


MAX_WRITE_ATTEMPTS = 5

T = TypeVar("T")


async def retry_on_conflict(attempt: Callable[[], Awaitable[T]], what: str = "function") -> T:
    """Run a read-check-write ``attempt`` again while another writer gets in between.

    ``attempt`` reads what it needs afresh each time (so its checks are re-done) and
    lets the ``ConditionFailed`` of its conditional write escape to be retried; after
    ``MAX_WRITE_ATTEMPTS`` the call fails with a conflict naming ``what`` changed.
    """
    for _ in range(MAX_WRITE_ATTEMPTS):
        try:
            return await attempt()
        except ConditionFailed:
            continue
    raise ResourceConflictException(f"The {what} changed concurrently; retry the call.")


async def update_function(
    cp: ControlPlane,
    ctx: RequestContext,
    name: str,
    change: Callable[[FunctionRecord], Awaitable[FunctionRecord] | FunctionRecord],
) -> FunctionRecord:
    """Read-modify-write of a function record with optimistic concurrency.

    ``change`` may raise an AwsError to refuse the change; it is re-run on a fresh
    read when another writer got in between.
    """

    async def attempt() -> FunctionRecord:
        record = await load_function(cp, ctx, name)
        changed = change(record)
        new = await changed if inspect.isawaitable(changed) else changed
        return await cp.functions.save(new)

    return await retry_on_conflict(attempt)
