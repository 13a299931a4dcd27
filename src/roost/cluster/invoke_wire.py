"""The internal invoke request between nodes: a frontend asks a worker host to run one invoke.

``POST /_roost/cluster/invoke`` carries the invocation's identity in
``X-Roost-*`` headers and the payload as the raw body; the answer carries the
function's output then its log, split by ``X-Roost-Payload-Length``. Errors
travel in AWS's shape (``x-amzn-ErrorType`` and a JSON body) and become the
same ``AwsError`` on the frontend, so a throttle on a full host reaches the
caller as the 429 it would be on one node. The endpoint is internal: every
request carries the cluster's shared secret (``ROOST_CLUSTER_SECRET``).

Counting happened on the frontend; the worker host only assigns an
environment and runs the invoke.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from roost.api.errors import AwsError, ServiceException
from roost.worker.environment import InvokeOutcome
from roost.worker.runtime_api import Invocation

CLUSTER_INVOKE_PATH = "/_roost/cluster/invoke"
_PREFIX = "x-roost-"


@dataclass(frozen=True)
class RemoteInvocation:
    """One invoke a frontend hands to a worker host."""

    account_id: str
    function_name: str
    version: str
    revision_id: str
    network: bool
    invocation: Invocation


class UnauthorizedNode(AwsError):
    """An internal request without the cluster's secret."""

    code = "AccessDeniedException"


def request_headers(remote: RemoteInvocation, secret: str) -> dict[str, str]:
    """The headers of the internal invoke request."""
    invocation = remote.invocation
    headers = {
        "authorization": f"Bearer {secret}",
        "content-type": "application/octet-stream",
        _PREFIX + "account": remote.account_id,
        _PREFIX + "function": remote.function_name,
        _PREFIX + "version": remote.version,
        _PREFIX + "revision": remote.revision_id,
        _PREFIX + "network": "1" if remote.network else "0",
        _PREFIX + "request-id": invocation.request_id,
        _PREFIX + "deadline-ms": str(invocation.deadline_ms),
        _PREFIX + "invoked-arn": invocation.invoked_function_arn,
        _PREFIX + "trace-id": invocation.trace_id,
    }
    if invocation.client_context is not None:
        encoded = base64.b64encode(invocation.client_context.encode()).decode()
        headers[_PREFIX + "client-context"] = encoded
    return headers


def check_secret(headers: Mapping[str, str], secret: str) -> None:
    """Refuse a request that does not carry the cluster's secret."""
    offered = headers.get("authorization", "")
    if not secret or not hmac.compare_digest(offered.encode(), f"Bearer {secret}".encode()):
        raise UnauthorizedNode("This endpoint is for the nodes of the cluster.")


def parse_request(headers: Mapping[str, str], body: bytes) -> RemoteInvocation:
    """The invocation a request carries (``InvalidRequestContentException`` if malformed)."""
    try:
        context = headers.get(_PREFIX + "client-context")
        client_context = base64.b64decode(context).decode() if context else None
        invocation = Invocation(
            request_id=headers[_PREFIX + "request-id"],
            payload=body,
            deadline_ms=int(headers[_PREFIX + "deadline-ms"]),
            invoked_function_arn=headers[_PREFIX + "invoked-arn"],
            trace_id=headers[_PREFIX + "trace-id"],
            client_context=client_context,
        )
        return RemoteInvocation(
            account_id=headers[_PREFIX + "account"],
            function_name=headers[_PREFIX + "function"],
            version=headers[_PREFIX + "version"],
            revision_id=headers[_PREFIX + "revision"],
            network=headers[_PREFIX + "network"] == "1",
            invocation=invocation,
        )
    except (KeyError, ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise AwsError(
            f"Malformed internal invoke request: {error!r}",
            code="InvalidRequestContentException",
        ) from None


def response_of(outcome: InvokeOutcome) -> tuple[dict[str, str], bytes]:
    """Headers and body answering an invoke that ran."""
    headers = {
        "content-type": "application/octet-stream",
        _PREFIX + "payload-length": str(len(outcome.payload)),
        _PREFIX + "duration-ms": repr(outcome.duration_ms),
    }
    if outcome.function_error is not None:
        headers[_PREFIX + "function-error"] = outcome.function_error
    if outcome.init_duration_ms is not None:
        headers[_PREFIX + "init-duration-ms"] = repr(outcome.init_duration_ms)
    return headers, outcome.payload + outcome.log


def parse_response(status: int, headers: Mapping[str, str], body: bytes) -> InvokeOutcome:
    """The outcome a worker host answered, or the ``AwsError`` it answered with."""
    if status != 200:
        raise _error_of(status, headers, body)
    try:
        length = int(headers[_PREFIX + "payload-length"])
        duration_ms = float(headers[_PREFIX + "duration-ms"])
        init = headers.get(_PREFIX + "init-duration-ms")
    except (KeyError, ValueError):
        raise ServiceException("A worker host answered an invoke without its outcome.") from None
    return InvokeOutcome(
        payload=body[:length],
        function_error=headers.get(_PREFIX + "function-error"),
        log=body[length:],
        duration_ms=duration_ms,
        init_duration_ms=float(init) if init is not None else None,
    )


def _error_of(status: int, headers: Mapping[str, str], body: bytes) -> AwsError:
    code = headers.get("x-amzn-errortype", "ServiceException")
    try:
        document = json.loads(body)
        fields = {k: v for k, v in document.items() if k not in ("Type", "message", "Message")}
        message = str(document.get("message") or document.get("Message") or "")
    except (ValueError, AttributeError):
        fields, message = {}, body.decode(errors="replace")[:200]
    return AwsError(
        message or f"worker host answered {status}", code=code, status=status, fields=fields
    )
