"""The sync Invoke operation: the front end of the talk's synchronous path.

function metadata (L1 cache) -> counting service -> assignment (warm environment
or placement) -> invoke proxy -> the environment, then the AWS-shaped result.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time

from roost.api.errors import (
    AwsError,
    InvalidRequestContentException,
    ResourceConflictException,
    UnsupportedOperationException,
)
from roost.api.request_ids import new_trace_id
from roost.flow.counting import CountingService
from roost.frontend.context import RequestContext
from roost.frontend.control.resolve import function_ref, not_found
from roost.frontend.invoke.executor import Executor
from roost.frontend.invoke.function_cache import FunctionCache, FunctionView
from roost.frontend.router import Handler, Output, Params
from roost.functions.model import FunctionConfig, State
from roost.functions.naming import LATEST, function_arn, is_version, merge_qualifier
from roost.worker.environment import INIT_TIMEOUT_S, InvokeOutcome
from roost.worker.invocation_log import tail
from roost.worker.log_store import LogStore
from roost.worker.runtime_api import Invocation

CLIENT_CONTEXT_MAX_BYTES = 3583


def decode_client_context(value: str | None) -> str | None:
    """The decoded JSON of ``X-Amz-Client-Context`` (base64 JSON object, AWS's rules)."""
    if value is None:
        return None
    try:
        decoded = base64.b64decode(value, validate=True)
        document = json.loads(decoded)
    except (binascii.Error, ValueError):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None
    if not isinstance(document, dict):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        )
    if len(value) > CLIENT_CONTEXT_MAX_BYTES:
        raise AwsError(
            f"Client context must be at most {CLIENT_CONTEXT_MAX_BYTES} bytes.",
            code="InvalidParameterValueException",
        )
    # Re-serialised, not passed on as sent: it travels in a Runtime API header,
    # which takes neither line breaks nor (as latin-1) every character.
    return json.dumps(document, separators=(",", ":"))


def payload_or_empty_object(payload: bytes) -> bytes:
    """What the function receives: ``{}`` when the invoke carried no payload, as Lambda
    sends (a runtime parses the event as JSON, and an empty body is not)."""
    return payload if payload.strip() else b"{}"


def check_payload(payload: bytes) -> None:
    """Refuse a payload that is not JSON (an empty one is allowed), as Lambda does."""
    if not payload.strip():
        return
    try:
        json.loads(payload)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {error}"
        ) from None


class InvokeHandlers:
    """The ``Invoke`` operation of the invoke plane."""

    def __init__(
        self,
        cache: FunctionCache,
        counting: CountingService,
        executor: Executor,
        logs: LogStore,
    ) -> None:
        self._cache = cache
        self._counting = counting
        # Local on a single node; a cluster frontend swaps in a remote one.
        self.executor = executor
        self._logs = logs

    def routes(self) -> dict[str, Handler]:
        """Operation name -> handler."""
        return {"Invoke": self.invoke}

    def _select(
        self, ctx: RequestContext, view: FunctionView, qualifier: str | None
    ) -> FunctionConfig:
        """The version an invoke runs: $LATEST, a version, or an alias's (weighted) pick."""
        name = view.record.name
        if qualifier is None or qualifier == LATEST:
            return view.record.latest
        target = qualifier
        if not is_version(qualifier):
            alias = view.aliases.get(qualifier)
            if alias is None:
                raise not_found(ctx, name, qualifier)
            target = alias.function_version
            roll = random.random()
            for version, weight in alias.routing_weights.items():
                if roll < weight:
                    target = version
                    break
                roll -= weight
            if target == LATEST:
                return view.record.latest
        config = view.versions.get(target)
        if config is None:
            raise not_found(ctx, name, qualifier)
        return config

    async def reload(self, account_id: str, name: str) -> None:
        """Read a function into the L1 cache now (after a change this node may not
        have heard of: one made through another node)."""
        await self._cache.refresh(account_id, name)

    async def resolve(
        self, ctx: RequestContext, name: str, qualifier: str | None
    ) -> tuple[FunctionView, FunctionConfig]:
        """The function and the version an invoke runs, from the L1 cache.

        Raises ``ResourceNotFoundException`` for an unknown function or qualifier
        and ``ResourceConflictException`` for a version that is not Active.
        """
        view = await self._cache.get(ctx.account_id, name)
        if view is None:
            raise not_found(ctx, name, qualifier)
        config = self._select(ctx, view, qualifier)
        if config.state is not State.ACTIVE:
            raise ResourceConflictException(
                "The operation cannot be performed at this time. The function is currently "
                f"in the following state: {config.state.value}"
            )
        return view, config

    async def invoke(self, ctx: RequestContext, params: Params) -> Output:
        ref = function_ref(ctx, params["FunctionName"])
        qualifier = merge_qualifier(ref, params.get("Qualifier"))
        invocation_type = params.get("InvocationType") or "RequestResponse"
        if invocation_type == "Event":
            # Served by the async plane's router; reaching here means it is not wired.
            raise UnsupportedOperationException("Invoke with InvocationType Event")
        view, config = await self.resolve(ctx, ref.name, qualifier)
        payload = bytes(params.get("Payload") or b"")
        check_payload(payload)
        client_context = decode_client_context(params.get("ClientContext"))
        if invocation_type == "DryRun":
            return {"StatusCode": 204}
        outcome = await self.execute(ctx, view, config, qualifier, payload, client_context)
        output: Output = {
            "StatusCode": 200,
            "Payload": outcome.payload,
            "ExecutedVersion": config.version,
        }
        if outcome.function_error:
            output["FunctionError"] = outcome.function_error
        if params.get("LogType") == "Tail":
            output["LogResult"] = base64.b64encode(tail(outcome.log)).decode()
        return output

    async def execute(
        self,
        ctx: RequestContext,
        view: FunctionView,
        config: FunctionConfig,
        qualifier: str | None,
        payload: bytes,
        client_context: str | None,
    ) -> InvokeOutcome:
        """Run one invoke of a resolved version: counting -> assignment -> environment.

        The one path every invoke takes, sync or async (the async pollers call it
        with the event's request id in ``ctx``). Raises ``TooManyRequestsException``
        when counting throttles.
        """
        invoked_arn = function_arn(ctx.region, ctx.account_id, config.name, qualifier)
        return await self._run(ctx, view, config, payload, invoked_arn, client_context)

    async def _run(
        self,
        ctx: RequestContext,
        view: FunctionView,
        config: FunctionConfig,
        payload: bytes,
        invoked_arn: str,
        client_context: str | None,
    ) -> InvokeOutcome:
        reserved_total = await self._cache.reserved_in_account(ctx.account_id)
        lease = await self._counting.acquire(
            ctx.account_id,
            config.name,
            view.record.reserved_concurrency,
            reserved_total,
            hold_s=config.timeout_s + INIT_TIMEOUT_S,
        )
        try:
            invocation = Invocation(
                request_id=ctx.request_id,
                payload=payload_or_empty_object(payload),
                # An upper bound: the environment sets the deadline when it starts.
                deadline_ms=int(time.time() * 1000) + config.timeout_s * 1000,
                invoked_function_arn=invoked_arn,
                trace_id=new_trace_id(),
                client_context=client_context,
            )
            outcome = await self.executor.run(ctx.account_id, config, view.network, invocation)
        finally:
            await self._counting.release(lease)
        self._logs.append(ctx.account_id, config.name, outcome.log)
        return outcome
