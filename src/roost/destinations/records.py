"""What Lambda sends about a finished asynchronous invoke, in AWS's shapes.

Two documents leave Roost when an async event is done:

- the **invocation record** sent to an ``OnSuccess``/``OnFailure`` destination
  (``version``, ``timestamp``, ``requestContext``, ``requestPayload``,
  ``responseContext``, ``responsePayload``), as AWS documents it for Lambda
  destinations, so handlers and tools written against AWS read it unchanged;
- the **dead-letter message** sent to a function's ``DeadLetterConfig`` target:
  the original event untouched as the body, and why it failed in the message
  attributes ``RequestID`` (String), ``ErrorCode`` (Number) and ``ErrorMessage``
  (String, at most 1 KB).

Everything here is pure: the async data plane describes an event and its outcome
with the small dataclasses below, and delivery (``delivery.py``) ships the result.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RECORD_VERSION = "1.0"
DLQ_ERROR_MESSAGE_MAX_BYTES = 1024
"""AWS truncates the ``ErrorMessage`` attribute of a dead-letter message to 1 KB."""


class Condition(enum.StrEnum):
    """``requestContext.condition``: why the record was sent."""

    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"

    @property
    def is_failure(self) -> bool:
        """Whether the record goes to ``OnFailure`` (and the event to the DLQ)."""
        return self is not Condition.SUCCESS


@dataclass(frozen=True)
class AsyncEvent:
    """An asynchronous invoke as the destinations see it.

    ``function_arn`` carries the qualifier the event was invoked with
    (``...:function:name:$LATEST`` for an unqualified invoke, or a version or
    alias), because that is what AWS reports and what selects the event invoke
    configuration. ``approximate_invoke_count`` counts attempts that reached
    the function, including the last one.
    """

    request_id: str
    function_arn: str
    payload: bytes
    approximate_invoke_count: int


@dataclass(frozen=True)
class InvocationResult:
    """What the last attempt returned.

    ``status_code`` is the Invoke status (200 also for function errors, as on
    AWS; 429 or 5xx when the attempt was throttled or failed in Roost).
    ``function_error`` is ``Unhandled`` or ``Handled`` after a function error.
    ``executed_version`` is the version that ran, None when none ran.
    """

    status_code: int = 200
    payload: bytes = b"null"
    function_error: str | None = None
    executed_version: str | None = None


@dataclass(frozen=True)
class DeadLetterMessage:
    """A message for a dead-letter queue or topic.

    ``attributes`` is already in the ``MessageAttributes`` form SQS and SNS take
    (``{"RequestID": {"DataType": "String", "StringValue": ...}, ...}``).
    """

    body: str
    attributes: Mapping[str, Mapping[str, str]]


def record_timestamp(moment: dt.datetime) -> str:
    """The record's ``timestamp``: UTC, millisecond precision, ``Z`` suffix."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _json_value(data: bytes) -> Any:
    """A payload as the JSON value it holds; text (or None) if it is not JSON.

    Payloads are JSON on the way in (the front end refuses anything else) and
    from every Roost runtime; a custom runtime may answer plain text, which AWS
    also passes on as a string.
    """
    if not data:
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


def response_context(result: InvocationResult) -> dict[str, Any]:
    """``responseContext``: the status, the version that ran and the function error, if any."""
    context: dict[str, Any] = {"statusCode": result.status_code}
    if result.executed_version is not None:
        context["executedVersion"] = result.executed_version
    if result.function_error is not None:
        context["functionError"] = result.function_error
    return context


def invocation_record(
    event: AsyncEvent,
    condition: Condition,
    result: InvocationResult | None,
    *,
    now: dt.datetime,
) -> dict[str, Any]:
    """The invocation record of ``event`` as a JSON-ready document.

    ``result`` is None only when the event expired before any attempt reached
    the function; the record then has no ``responseContext`` and no
    ``responsePayload``, since there was no response to describe.
    """
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "timestamp": record_timestamp(now),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": event.function_arn,
            "condition": condition.value,
            "approximateInvokeCount": event.approximate_invoke_count,
        },
        "requestPayload": _json_value(event.payload),
    }
    if result is not None:
        record["responseContext"] = response_context(result)
        record["responsePayload"] = _json_value(result.payload)
    return record


def encode_record(record: Mapping[str, Any]) -> str:
    """The record as the JSON text sent to a queue, topic, bus or function."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _truncate_utf8(text: str, max_bytes: int) -> str:
    """At most ``max_bytes`` of UTF-8, never cutting a character in half."""
    return text.encode()[:max_bytes].decode("utf-8", errors="ignore")


def error_message(result: InvocationResult | None, condition: Condition) -> str:
    """The human-readable reason of a failure, for the DLQ's ``ErrorMessage``.

    A function error's payload is ``{"errorMessage": ..., "errorType": ...}``;
    its message is what a reader wants. Anything else is passed as text.
    """
    if result is None:
        return f"Event was dropped: {condition.value}"
    value = _json_value(result.payload)
    if isinstance(value, Mapping) and isinstance(value.get("errorMessage"), str):
        return str(value["errorMessage"])
    return value if isinstance(value, str) else json.dumps(value)


def dead_letter_message(
    event: AsyncEvent, condition: Condition, result: InvocationResult | None
) -> DeadLetterMessage:
    """The message a function's dead-letter queue or topic receives for ``event``.

    ``ErrorCode`` is the attempt's HTTP status (200 after a function error, as on
    AWS), or 429 when no attempt ran: an event expires unattempted only while
    it is throttled. SQS and SNS refuse empty attribute values, so an empty
    ``ErrorMessage`` is left out.
    """
    status = result.status_code if result is not None else 429
    attributes: dict[str, Mapping[str, str]] = {
        "RequestID": {"DataType": "String", "StringValue": event.request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": str(status)},
    }
    message = _truncate_utf8(error_message(result, condition), DLQ_ERROR_MESSAGE_MAX_BYTES)
    if message:
        attributes["ErrorMessage"] = {"DataType": "String", "StringValue": message}
    body = event.payload.decode("utf-8", errors="replace")
    return DeadLetterMessage(body=body, attributes=attributes)
