"""The async plane's outcomes sent on to destinations and dead-letter queues.

Pollers speak of outcomes in the async plane's terms (``AsyncEvent``,
``InvokeResult``, ``Condition``); ``destinations`` has its own small types so it
depends on nothing of the plane. This sink translates one into the other and
hands the outcome to ``DestinationSink``, which reads the function's
``DestinationConfig`` and ``DeadLetterConfig`` and delivers.
"""

from __future__ import annotations

from roost import destinations
from roost.async_invoke.event import AsyncEvent
from roost.async_invoke.outcome import InvokeResult
from roost.async_invoke.retry import Condition
from roost.functions.naming import LATEST, function_arn


def _event(event: AsyncEvent) -> destinations.AsyncEvent:
    # AWS names the qualifier the event was invoked with ($LATEST when none).
    arn = function_arn(
        event.region, event.account_id, event.function_name, event.qualifier or LATEST
    )
    return destinations.AsyncEvent(
        request_id=event.request_id,
        function_arn=arn,
        payload=event.payload,
        approximate_invoke_count=event.invoke_count,
    )


def _result(result: InvokeResult | None) -> destinations.InvocationResult | None:
    if result is None:
        return None
    return destinations.InvocationResult(
        status_code=result.status_code,
        payload=result.payload,
        function_error=result.function_error,
        executed_version=result.executed_version,
    )


class DestinationOutcomes:
    """An ``OutcomeSink`` that reports to the function's destinations and DLQ."""

    def __init__(self, sink: destinations.DestinationSink) -> None:
        self._sink = sink

    async def succeeded(self, event: AsyncEvent, result: InvokeResult) -> None:
        """Send the success record to ``OnSuccess``, if configured."""
        translated = _result(result)
        assert translated is not None
        await self._sink.succeeded(_event(event), translated)

    async def failed(
        self, event: AsyncEvent, condition: Condition, result: InvokeResult | None
    ) -> None:
        """Send the failure record to ``OnFailure`` and the event to the DLQ, if configured."""
        await self._sink.failed(
            _event(event), destinations.Condition(condition.value), _result(result)
        )
