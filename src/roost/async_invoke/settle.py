"""Settling an async event: run it once through the sync path, then decide its
message's fate.

- success: the ``OutcomeSink`` hears of it and the message is deleted;
- function error: a copy counting one more invoke is sent with the retry delay
  and the message deleted (a message body cannot change in place), or, with
  retries exhausted, the sink hears of it and the message is deleted;
- throttle or system error: the message is hidden for the backoff delay
  (``change_visibility``) and comes back, until the event is too old;
- too old already: the sink hears of it (``EventAgeExceeded``), it never runs.

Whatever happens, the poller's ``VisibilityKeeper`` stops keeping the message
hidden: an event that could not be settled (a store out) comes back after its
visibility timeout and is tried again (at-least-once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from roost.api.errors import AwsError, ResourceNotFoundException, TooManyRequestsException
from roost.async_invoke.event import AsyncEvent, encode
from roost.async_invoke.metrics import DropReason, RetryReason
from roost.async_invoke.outcome import InvokeResult
from roost.async_invoke.poller_deps import PollerDeps
from roost.async_invoke.retry import Condition, FailureKind, GiveUp
from roost.async_invoke.visibility import VisibilityKeeper
from roost.store.errors import StoreUnavailable
from roost.store.ports import ReceivedMessage

log = logging.getLogger(__name__)

# MaximumEventAgeInSeconds is at least 60: younger events need no config lookup.
MIN_EVENT_AGE_LIMIT_S = 60
# The counting service's reason when a function's own reserved concurrency is full.
RESERVED_FULL = "ReservedFunctionConcurrentInvocationLimitExceeded"


@dataclass(frozen=True)
class Attempt:
    """One run of an event: the event afterwards, and the result or the failure."""

    event: AsyncEvent
    result: InvokeResult | None
    failure: FailureKind | None


class EventSettler:
    """Runs and settles the events one poller received (``handle``)."""

    def __init__(
        self,
        poller_id: str,
        deps: PollerDeps,
        visibility: VisibilityKeeper,
        clock_ms: Callable[[], int],
    ) -> None:
        self.poller_id = poller_id
        self._deps = deps
        self._visibility = visibility
        self._clock_ms = clock_ms

    async def handle(self, queue: str, message: ReceivedMessage, event: AsyncEvent | None) -> None:
        """Run one received event (None: malformed) and settle its message (no longer
        kept hidden from then on: settling sets its fate)."""
        try:
            await self._run_and_settle(queue, message, event)
        except StoreUnavailable as error:
            # Its retry limits or its destinations could not be read: not settled.
            log.warning(
                "poller %s: event of message %s not settled (%s); it comes back later",
                self.poller_id,
                message.message_id,
                error,
            )
        finally:
            # Whatever happened: a message still held would be kept hidden for as
            # long as this poller runs. Unsettled (an error on the way, such as a
            # store that could not be read), it comes back after its timeout.
            self._visibility.release(message)

    async def _run_and_settle(
        self, queue: str, message: ReceivedMessage, event: AsyncEvent | None
    ) -> None:
        if event is None:
            log.error("poller %s: malformed message %s", self.poller_id, message.message_id)
            await self._delete(queue, message)
            return
        metrics, account, name = self._deps.metrics, event.account_id, event.function_name
        if await self._expired(event):
            metrics.dropped(account, name, DropReason.EVENT_AGE_EXCEEDED)
            await self._deps.sink.failed(event, Condition.EVENT_AGE_EXCEEDED, None)
            await self._delete(queue, message)
            return
        metrics.started(account, name, event.age_s(self._clock_ms()))
        try:
            attempt = await self._attempt(event)
        finally:
            metrics.ended(account, name)
        # Still held while its outcome is delivered (which may take longer than the
        # visibility timeout: a slow destination, retried): another poller must not
        # receive it and run it again meanwhile. ``handle`` releases it.
        if attempt is None:
            metrics.dropped(account, name, DropReason.FUNCTION_DELETED)
            await self._delete(queue, message)
            if self._deps.backlog is not None:
                # No outcome reaches the sink (which settles the others there).
                self._deps.backlog.ledger.done(event)
        elif attempt.failure is None:
            assert attempt.result is not None
            metrics.succeeded(account, name)
            await self._deps.sink.succeeded(attempt.event, attempt.result)
            await self._delete(queue, message)
        else:
            await self._settle_failure(queue, message, attempt)

    async def expired_already(self, event: AsyncEvent) -> bool:
        """``_expired`` at admission; False when its limits cannot be read now."""
        try:
            return await self._expired(event)
        except StoreUnavailable:
            return False

    async def _expired(self, event: AsyncEvent) -> bool:
        now_ms = self._clock_ms()
        if event.age_s(now_ms) < MIN_EVENT_AGE_LIMIT_S:
            return False
        limits = await self._deps.limits.limits(event)
        return self._deps.policy.expired(event, limits, now_ms)

    async def _attempt(self, event: AsyncEvent) -> Attempt | None:
        """Run the event once; None when it can never run (its function is gone)."""
        started = time.monotonic()
        try:
            result = await self._deps.invoker.invoke(event)
        except TooManyRequestsException as error:
            # A function's own reservation full is its business; the account's
            # (or the node's) full is the system's: the governor hears of it.
            own = error.fields.get("Reason") == RESERVED_FULL
            self._report(started, error=not own, throttled=True)
            return Attempt(event, None, FailureKind.THROTTLED)
        except ResourceNotFoundException as error:
            log.warning("async event %s dropped: %s", event.request_id, error.message)
            return None
        except AwsError as error:
            log.info("async event %s not run: %s", event.request_id, error.message)
            self._report(started, error=True)
            return Attempt(event, None, FailureKind.SYSTEM_ERROR)
        except Exception:
            log.exception("async event %s failed to run", event.request_id)
            self._report(started, error=True)
            return Attempt(event, None, FailureKind.SYSTEM_ERROR)
        duration_s = self._report(started)
        if self._deps.tenants is not None:
            self._deps.tenants.ran(event.account_id, event.function_name, duration_s)
        ran = event.invoked_once_more()
        failure = FailureKind.FUNCTION_ERROR if result.function_error else None
        return Attempt(ran, result, failure)

    def _report(self, started: float, *, error: bool = False, throttled: bool = False) -> float:
        """Tell the governor how an attempt went (the handshake); its latency."""
        latency_s = time.monotonic() - started
        if self._deps.drain is not None:
            self._deps.drain.attempted(latency_s, error=error, throttled=throttled)
        return latency_s

    async def _settle_failure(self, queue: str, message: ReceivedMessage, attempt: Attempt) -> None:
        """Retry (a delayed copy, or the same message later) or give the event up."""
        assert attempt.failure is not None
        limits = await self._deps.limits.limits(attempt.event)
        decision = self._deps.policy.decide(
            attempt.event, attempt.failure, limits, self._clock_ms(), self._failures_in_row(message)
        )
        event = attempt.event
        if isinstance(decision, GiveUp):
            self._deps.metrics.dropped(
                event.account_id, event.function_name, DropReason.of(decision.condition)
            )
            await self._deps.sink.failed(attempt.event, decision.condition, attempt.result)
            await self._delete(queue, message)
            return
        self._deps.metrics.retried(
            event.account_id, event.function_name, RetryReason.of(attempt.failure)
        )
        if attempt.failure is FailureKind.FUNCTION_ERROR:
            # The copy is durable before the original goes: a crash in between
            # runs the event twice rather than never.
            await self._deps.queues.send(queue, encode(attempt.event), delay_s=decision.delay_s)
            self._deps.gauge.sent(queue)
            self._deps.metrics.sent(queue)
            await self._delete(queue, message)
        else:
            # Released first: a beat must not extend the backoff given here.
            self._visibility.release(message)
            await self._deps.queues.change_visibility(queue, message.receipt, decision.delay_s)

    def _failures_in_row(self, message: ReceivedMessage) -> int:
        """Receives of the message that were attempts (not tenant deferrals)."""
        if self._deps.tenants is None:
            return message.receive_count
        return self._deps.tenants.ledger.failures_in_row(message.message_id, message.receive_count)

    async def _delete(self, queue: str, message: ReceivedMessage) -> None:
        if self._deps.tenants is not None:
            self._deps.tenants.ledger.settled(message.message_id)
        if await self._deps.queues.delete(queue, message.receipt):
            self._deps.gauge.deleted(queue)
