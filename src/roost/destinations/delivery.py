"""Delivering invocation records and dead-letter messages to their targets.

A record goes to an SQS queue (``SendMessage``), an SNS topic (``Publish``), an
EventBridge bus (``PutEvents``, source ``lambda``) or another Roost function
(an asynchronous invoke through ``AsyncInvoker``). A dead-letter message goes to
a queue or a topic. Failures are retried with exponential backoff a few times,
then reported as ``DeliveryStatus.FAILED``: an outcome that cannot be reported
must never fail, block or re-run the event it describes. Callers keep it for
later: the async plane parks it in a durable outbox (``outbox.py``), a stream
shard holds its position and tries again.

With a ``BreakerBoard`` (one breaker per target ARN, ``flow.circuit_breaker``)
a target whose breaker is open, or any target while the board sees a fleet-wide
fault, fails fast instead of being retried against: each attempt asks the board
first and tells it how the attempt went. A fault hook (``FaultTarget.DESTINATIONS``,
tests only) is awaited before every attempt, as if it were the endpoint's.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from roost.destinations.aws import AwsClients
from roost.destinations.records import Condition, DeadLetterMessage, encode_record
from roost.destinations.targets import InvalidTargetError, Target, TargetKind, parse_target
from roost.flow.circuit_breaker import BreakerBoard
from roost.store.faults import FaultHook

log = logging.getLogger(__name__)

EVENT_SOURCE = "lambda"
"""``Source`` of the EventBridge events Lambda puts for destinations."""
DETAIL_TYPE_SUCCESS = "Lambda Function Invocation Result - Success"
DETAIL_TYPE_FAILURE = "Lambda Function Invocation Result - Failure"


class AsyncInvoker(Protocol):
    """The async front end, as a Lambda destination needs it."""

    async def enqueue(self, account_id: str, function_arn: str, payload: bytes) -> None:
        """Queue an asynchronous invoke of ``function_arn`` (qualified or not) with ``payload``.

        Returns once the event is durable; raises if it was refused (the function
        does not exist, the payload is too large). Not idempotent: a retry after an
        ambiguous failure may queue the event twice (async invokes are at-least-once).
        """
        ...


class RecordDelivery(Protocol):
    """What ``DestinationSink`` needs from delivery (``DestinationDelivery``, or a fake)."""

    async def send_record(
        self, destination_arn: str, record: Mapping[str, Any], condition: Condition
    ) -> bool:
        """Deliver an invocation record; whether it arrived. Never raises but on cancel."""
        ...

    async def send_dead_letter(self, target_arn: str, message: DeadLetterMessage) -> bool:
        """Deliver a dead-letter message; whether it arrived. Never raises but on cancel."""
        ...


class DeliveryStatus(enum.Enum):
    """How one delivery ended."""

    SENT = "sent"
    FAILED = "failed"
    """Not delivered now (the target failed, or its breaker is open): worth trying later."""
    REFUSED = "refused"
    """Never deliverable (an invalid ARN, an unsupported kind of target)."""


class DeliveryError(Exception):
    """A target refused or lost a record; worth retrying."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard delivery tries before it gives up and logs.

    ``attempts`` counts the first try; the delay before attempt n+1 is
    ``initial_delay_s * 2**(n-1)``, at most ``max_delay_s``.
    """

    attempts: int = 4
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_delay_s, self.initial_delay_s * 2 ** (attempt - 1)))


class DestinationDelivery:
    """Sends records and dead-letter messages to ARNs; reports success, never raises.

    Only cancellation propagates: a caller that is cancelled (node shutdown)
    stops the delivery in progress.
    """

    def __init__(
        self,
        clients: AwsClients,
        invoker: AsyncInvoker | None = None,
        *,
        policy: RetryPolicy | None = None,
        breakers: BreakerBoard | None = None,
        faults: FaultHook | None = None,
    ) -> None:
        self._clients = clients
        self._faults = faults
        self._invoker = invoker
        self._policy = policy or RetryPolicy()
        self._breakers = breakers
        # Queue ARN -> URL: GetQueueUrl once per queue, since the URL's form
        # depends on the endpoint (moto, LocalStack and AWS each build their own).
        self._queue_urls: dict[str, str] = {}

    async def send_record(
        self, destination_arn: str, record: Mapping[str, Any], condition: Condition
    ) -> bool:
        """Deliver an invocation record to a destination; whether it arrived."""
        status = await self.deliver_record(destination_arn, record, condition)
        return status is DeliveryStatus.SENT

    async def send_dead_letter(self, target_arn: str, message: DeadLetterMessage) -> bool:
        """Deliver a dead-letter message to a queue or topic; whether it arrived."""
        status = await self.deliver_dead_letter(target_arn, message)
        return status is DeliveryStatus.SENT

    async def deliver_record(
        self, destination_arn: str, record: Mapping[str, Any], condition: Condition
    ) -> DeliveryStatus:
        """Deliver an invocation record to a destination; how it ended."""
        target = self._target(destination_arn, "destination")
        if target is None:
            return DeliveryStatus.REFUSED
        body = encode_record(record)
        send: Callable[[], Awaitable[None]]
        if target.kind is TargetKind.SQS:
            send = functools.partial(self._send_message, target, body, None)
        elif target.kind is TargetKind.SNS:
            send = functools.partial(self._publish, target, body, None)
        elif target.kind is TargetKind.EVENTS:
            send = functools.partial(self._put_event, target, record, body, condition)
        elif target.kind is TargetKind.LAMBDA:
            send = functools.partial(self._invoke, target, body)
        else:
            # S3 (on-failure only on AWS) would need object naming we have not built.
            log.error("destination %s: %s destinations are not supported", target.arn, target.kind)
            return DeliveryStatus.REFUSED
        return await self._with_retries(target.arn, f"destination {target.arn}", send)

    async def deliver_dead_letter(
        self, target_arn: str, message: DeadLetterMessage
    ) -> DeliveryStatus:
        """Deliver a dead-letter message to a queue or topic; how it ended."""
        target = self._target(target_arn, "dead-letter target")
        if target is None:
            return DeliveryStatus.REFUSED
        if target.kind is TargetKind.SQS:
            send = functools.partial(self._send_message, target, message.body, message.attributes)
            return await self._with_retries(target.arn, f"dead-letter queue {target.arn}", send)
        if target.kind is TargetKind.SNS:
            send = functools.partial(self._publish, target, message.body, message.attributes)
            return await self._with_retries(target.arn, f"dead-letter topic {target.arn}", send)
        log.error("dead-letter target %s is neither an SQS queue nor an SNS topic", target.arn)
        return DeliveryStatus.REFUSED

    @staticmethod
    def _target(arn: str, role: str) -> Target | None:
        try:
            return parse_target(arn)
        except InvalidTargetError as error:
            log.error("%s %s: %s", role, arn, error)
            return None

    async def _with_retries(
        self, arn: str, what: str, send: Callable[[], Awaitable[None]]
    ) -> DeliveryStatus:
        policy = self._policy
        for attempt in range(1, policy.attempts + 1):
            if self._breakers is not None:
                admission = self._breakers.admit(arn)
                if not admission.allowed:
                    log.info(
                        "%s: breaker %s, not trying for %.1f s",
                        what,
                        admission.reason,
                        admission.retry_after_s,
                    )
                    return DeliveryStatus.FAILED
            try:
                if self._faults is not None:
                    await self._faults()
                await send()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure of a target is logged, never raised
                if self._breakers is not None:
                    self._breakers.record_failure(arn)
                if attempt == policy.attempts:
                    log.error(
                        "%s: giving up after %d attempts: %s: %s",
                        what,
                        attempt,
                        type(error).__name__,
                        error,
                    )
                    return DeliveryStatus.FAILED
                delay_s = policy.delay_s(attempt)
                log.warning(
                    "%s: attempt %d failed (%s: %s); retrying in %.2f s",
                    what,
                    attempt,
                    type(error).__name__,
                    error,
                    delay_s,
                )
                await asyncio.sleep(delay_s)
            else:
                if self._breakers is not None:
                    self._breakers.record_success(arn)
                return DeliveryStatus.SENT
        return DeliveryStatus.FAILED

    async def _queue_url(self, target: Target) -> str:
        url = self._queue_urls.get(target.arn)
        if url is None:
            reply = await self._clients.call(
                "sqs",
                target.region,
                "get_queue_url",
                QueueName=target.name,
                QueueOwnerAWSAccountId=target.account_id,
            )
            url = str(reply["QueueUrl"])
            self._queue_urls[target.arn] = url
        return url

    async def _send_message(
        self, target: Target, body: str, attributes: Mapping[str, Mapping[str, str]] | None
    ) -> None:
        params: dict[str, Any] = {"QueueUrl": await self._queue_url(target), "MessageBody": body}
        if attributes:
            params["MessageAttributes"] = {k: dict(v) for k, v in attributes.items()}
        await self._clients.call("sqs", target.region, "send_message", **params)

    async def _publish(
        self, target: Target, body: str, attributes: Mapping[str, Mapping[str, str]] | None
    ) -> None:
        params: dict[str, Any] = {"TopicArn": target.arn, "Message": body}
        if attributes:
            params["MessageAttributes"] = {k: dict(v) for k, v in attributes.items()}
        await self._clients.call("sns", target.region, "publish", **params)

    async def _put_event(
        self, target: Target, record: Mapping[str, Any], body: str, condition: Condition
    ) -> None:
        function_arn = str(record["requestContext"]["functionArn"])
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": DETAIL_TYPE_FAILURE if condition.is_failure else DETAIL_TYPE_SUCCESS,
            "Detail": body,
            "EventBusName": target.arn,
            # What AWS lists on these events: the bus, then the (qualified) function.
            "Resources": [target.arn, function_arn],
        }
        reply = await self._clients.call("events", target.region, "put_events", Entries=[entry])
        if reply.get("FailedEntryCount"):
            failed = reply["Entries"][0]
            raise DeliveryError(f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}")

    async def _invoke(self, target: Target, body: str) -> None:
        if self._invoker is None:
            raise DeliveryError("no async invoker is wired to deliver to functions")
        await self._invoker.enqueue(target.account_id, target.arn, body.encode())
