"""The async front end: ``Invoke`` with ``InvocationType=Event`` and ``InvokeAsync``.

The validation chain of the talk's async front end: the function and qualifier
exist and are Active (from the sync path's L1 cache, so a warm check reads no
store), the payload is JSON of at most 1 MB; then the queue router picks a
queue, the event is written durably, and only then is it acknowledged with 202
and its request id. It is served by its own ``PlaneRouter`` (``Plane.ASYNC``)
with its own bound on requests in flight, so an async flood cannot take the
sync invoke plane's capacity.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from roost.api.errors import RequestTooLargeException
from roost.api.request_ids import new_request_id
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import AsyncEvent, encode
from roost.async_invoke.metrics import AsyncMetrics
from roost.async_invoke.router import QueueRouter
from roost.frontend.context import RequestContext
from roost.frontend.control.resolve import function_ref
from roost.frontend.invoke.handler import InvokeHandlers, check_payload, decode_client_context
from roost.frontend.router import Handler, Output, Params
from roost.functions.naming import merge_qualifier, parse_function_name
from roost.store.ports import QueueStore

# AWS's limit on an asynchronous invoke's payload.
ASYNC_PAYLOAD_MAX_BYTES = 1_048_576


def _now_ms() -> int:
    return int(time.time() * 1000)


class AsyncFrontEnd:
    """Accepts async invokes: validate, route, persist, then 202."""

    def __init__(
        self,
        invoke: InvokeHandlers,
        router: QueueRouter,
        queues: QueueStore,
        gauge: DepthGauge,
        clock_ms: Callable[[], int] = _now_ms,
        metrics: AsyncMetrics | None = None,
        on_accepted: Callable[[AsyncEvent], None] | None = None,
    ) -> None:
        """``on_accepted`` hears of every event made durable (the backlog ledger)."""
        self._invoke = invoke
        self._on_accepted = on_accepted
        self._metrics = metrics or AsyncMetrics()
        self._router = router
        self._queues = queues
        self._gauge = gauge
        self._clock_ms = clock_ms

    def routes(self) -> dict[str, Handler]:
        """The operations of the async plane (``Invoke`` only ever with ``Event``)."""
        return {"Invoke": self.invoke_event, "InvokeAsync": self.invoke_async}

    async def invoke_event(self, ctx: RequestContext, params: Params) -> Output:
        """``Invoke`` with ``InvocationType=Event``: 202 and an empty payload."""
        await self.accept(
            ctx,
            params["FunctionName"],
            params.get("Qualifier"),
            bytes(params.get("Payload") or b""),
            params.get("ClientContext"),
        )
        return {"StatusCode": 202, "Payload": b""}

    async def invoke_async(self, ctx: RequestContext, params: Params) -> Output:
        """The legacy ``InvokeAsync``: ``Status`` 202."""
        payload = bytes(params.get("InvokeArgs") or b"")
        await self.accept(ctx, params["FunctionName"], None, payload, None)
        return {"Status": 202}

    async def enqueue(self, account_id: str, function_arn: str, payload: bytes) -> None:
        """An async invoke from inside Roost (a destination that is a function): the
        same checks and durable write as an ``Invoke`` with ``InvocationType=Event``."""
        ref = parse_function_name(function_arn)
        if ref.region is None:
            raise ValueError(f"a function destination is a full ARN, not {function_arn!r}")
        ctx = RequestContext(account_id, "", new_request_id(), ref.region, "Invoke")
        await self.accept(ctx, function_arn, None, payload, None)

    async def accept(
        self,
        ctx: RequestContext,
        function_name: str,
        qualifier: str | None,
        payload: bytes,
        client_context: str | None,
    ) -> AsyncEvent:
        """Validate the event and persist it to its queue; returns once it is durable."""
        ref = function_ref(ctx, function_name)
        qualifier = merge_qualifier(ref, qualifier)
        await self._invoke.resolve(ctx, ref.name, qualifier)
        if len(payload) > ASYNC_PAYLOAD_MAX_BYTES:
            raise RequestTooLargeException(
                f"Request must be smaller than {ASYNC_PAYLOAD_MAX_BYTES} bytes "
                "for the InvokeFunction operation"
            )
        check_payload(payload)
        decoded_context = decode_client_context(client_context)
        event = AsyncEvent(
            request_id=ctx.request_id,
            account_id=ctx.account_id,
            region=ctx.region,
            function_name=ref.name,
            qualifier=qualifier,
            payload=payload,
            received_at_ms=self._clock_ms(),
            client_context=decoded_context,
        )
        queue = self._router.route(ctx.account_id, ref.name, qualifier)
        await self._queues.send(queue, encode(event))
        self._gauge.sent(queue)
        self._metrics.accepted(ctx.account_id, ref.name, queue)
        if self._on_accepted is not None:
            self._on_accepted(event)
        return event
