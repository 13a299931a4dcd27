"""Delivering invocation records and dead-letter messages to their targets.

A record goes to an SQS queue (``SendMessage``), an SNS topic (``Publish``), an
EventBridge bus (``PutEvents``, source ``lambda``) or another Roost function
(an asynchronous invoke through ``AsyncInvoker``). A dead-letter message goes to
a queue or a topic. Failures are retried with exponential backoff a few times,
then logged and dropped: an outcome that cannot be reported must never fail,
block or re-run the event it describes (AWS counts these as
``DestinationDeliveryFailures`` / ``DeadLetterErrors`` and moves on, too).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from roost.destinations.aws import AwsClients
from roost.destinations.records import Condition, DeadLetterMessage, encode_record
from roost.destinations.targets import InvalidTargetError, Target, TargetKind, parse_target

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
    ) -> None:
        self._clients = clients
        self._invoker = invoker
        self._policy = policy or RetryPolicy()
        # Queue ARN -> URL: GetQueueUrl once per queue, since the URL's form
        # depends on the endpoint (moto, LocalStack and AWS each build their own).
        self._queue_urls: dict[str, str] = {}

    async def send_record(
        self, destination_arn: str, record: Mapping[str, Any], condition: Condition
    ) -> bool:
        """Deliver an invocation record to a destination; whether it arrived."""
        target = self._target(destination_arn, "destination")
        if target is None:
            return False
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
            return False
        return await self._with_retries(f"destination {target.arn}", send)

    async def send_dead_letter(self, target_arn: str, message: DeadLetterMessage) -> bool:
        """Deliver a dead-letter message to a queue or topic; whether it arrived."""
        target = self._target(target_arn, "dead-letter target")
        if target is None:
            return False
        if target.kind is TargetKind.SQS:
            send = functools.partial(self._send_message, target, message.body, message.attributes)
            return await self._with_retries(f"dead-letter queue {target.arn}", send)
        if target.kind is TargetKind.SNS:
            send = functools.partial(self._publish, target, message.body, message.attributes)
            return await self._with_retries(f"dead-letter topic {target.arn}", send)
        log.error("dead-letter target %s is neither an SQS queue nor an SNS topic", target.arn)
        return False

    @staticmethod
    def _target(arn: str, role: str) -> Target | None:
        try:
            return parse_target(arn)
        except InvalidTargetError as error:
            log.error("%s %s: %s", role, arn, error)
            return None

    async def _with_retries(self, what: str, send: Callable[[], Awaitable[None]]) -> bool:
        policy = self._policy
        for attempt in range(1, policy.attempts + 1):
            try:
                await send()
                return True
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure of a target is logged, never raised
                if attempt == policy.attempts:
                    log.error(
                        "%s: giving up after %d attempts: %s: %s",
                        what,
                        attempt,
                        type(error).__name__,
                        error,
                    )
                    return False
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
        return False

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
