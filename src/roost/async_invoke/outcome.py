"""Where an async event ends: the ``OutcomeSink`` port and a sink that logs.

Pollers call the sink exactly when an event is finished: once it succeeded, or
once it is given up (``RetriesExhausted`` after the last function error,
``EventAgeExceeded`` when it grew too old). Destinations (OnSuccess, OnFailure)
and dead-letter queues are sinks too; they are built against this Protocol.

The event is deleted from its queue only after the sink returned, so a sink
that raises leaves the event to come back after its visibility timeout and run
again (at-least-once). A sink that cannot deliver should therefore retry or
record on its own rather than raise, unless running the function again is what
it wants.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from roost.async_invoke.event import AsyncEvent
from roost.async_invoke.retry import Condition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InvokeResult:
    """What the last run of the function returned (the destination record's
    ``responseContext`` and ``responsePayload``)."""

    status_code: int
    payload: bytes
    function_error: str | None
    executed_version: str


class OutcomeSink(Protocol):
    """Receives every async event's final outcome."""

    async def succeeded(self, event: AsyncEvent, result: InvokeResult) -> None:
        """The function ran without error; ``event.invoke_count`` counts that run."""

    async def failed(
        self, event: AsyncEvent, condition: Condition, result: InvokeResult | None
    ) -> None:
        """The event is given up; ``result`` is the last run's, None if it never ran."""


class LoggingOutcomeSink:
    """Logs each outcome: failures as warnings, successes at debug level."""

    async def succeeded(self, event: AsyncEvent, result: InvokeResult) -> None:
        """Log the success."""
        log.debug(
            "async event %s of %s/%s succeeded after %d invokes",
            event.request_id,
            event.account_id,
            event.function_name,
            event.invoke_count,
        )

    async def failed(
        self, event: AsyncEvent, condition: Condition, result: InvokeResult | None
    ) -> None:
        """Log the failure and its condition."""
        log.warning(
            "async event %s of %s/%s dropped (%s) after %d invokes%s",
            event.request_id,
            event.account_id,
            event.function_name,
            condition.value,
            event.invoke_count,
            f", last error {result.function_error}" if result and result.function_error else "",
        )
