"""The queued async event and its encoding as a queue message body.

The body is JSON so that an operator can read a queue with ``sqlite3``; the
payload is kept as text when it is UTF-8 (it nearly always is: the front end
only accepts JSON) and as base64 otherwise.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from typing import Any

# Bumped when the body's shape changes incompatibly; older bodies stay readable.
BODY_VERSION = 1


class MalformedEvent(ValueError):
    """A queue message body that is not an encoded ``AsyncEvent``."""


@dataclass(frozen=True)
class AsyncEvent:
    """One accepted async invoke, as it waits in an internal queue.

    ``invoke_count`` is how many times the function ran for this event so far
    (AWS's ``approximateInvokeCount`` once the next attempt runs); throttled
    attempts do not count. ``received_at_ms`` (Unix epoch ms) is when the front
    end accepted the event: ``MaximumEventAgeInSeconds`` counts from there.
    """

    request_id: str
    account_id: str
    region: str
    function_name: str
    qualifier: str | None
    payload: bytes
    received_at_ms: int
    invoke_count: int = 0
    client_context: str | None = None

    def age_s(self, now_ms: int) -> float:
        """Seconds since the front end accepted the event."""
        return max(0, now_ms - self.received_at_ms) / 1000

    def invoked_once_more(self) -> AsyncEvent:
        """The event after one more run of the function."""
        return replace(self, invoke_count=self.invoke_count + 1)


def encode(event: AsyncEvent) -> bytes:
    """The queue message body of ``event``."""
    document: dict[str, Any] = {
        "v": BODY_VERSION,
        "requestId": event.request_id,
        "account": event.account_id,
        "region": event.region,
        "function": event.function_name,
        "qualifier": event.qualifier,
        "receivedAtMs": event.received_at_ms,
        "invokeCount": event.invoke_count,
        "clientContext": event.client_context,
    }
    try:
        document["payload"] = event.payload.decode("utf-8")
    except UnicodeDecodeError:
        document["payloadBase64"] = base64.b64encode(event.payload).decode("ascii")
    return json.dumps(document, separators=(",", ":")).encode()


def decode(body: bytes) -> AsyncEvent:
    """The event a queue message body holds; raises ``MalformedEvent``."""
    try:
        document = json.loads(body)
        if "payloadBase64" in document:
            payload = base64.b64decode(document["payloadBase64"], validate=True)
        else:
            payload = str(document["payload"]).encode("utf-8")
        return AsyncEvent(
            request_id=str(document["requestId"]),
            account_id=str(document["account"]),
            region=str(document["region"]),
            function_name=str(document["function"]),
            qualifier=_optional_str(document.get("qualifier")),
            payload=payload,
            received_at_ms=int(document["receivedAtMs"]),
            invoke_count=int(document.get("invokeCount", 0)),
            client_context=_optional_str(document.get("clientContext")),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise MalformedEvent(f"not an async event body: {error}") from None


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
