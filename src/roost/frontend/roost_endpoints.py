"""Roost's own endpoints beside the AWS API: health, code download links and logs.

- ``GET /_roost/health``: JSON status (unauthenticated, for probes);
- ``GET /metrics``: Prometheus's text format (unauthenticated, as scrapers expect;
  it names accounts and functions, so expose the port only to those who may see them);
- ``GET /_roost/code/{sha256}?expires=&signature=``: a deployment package, through
  the presigned link GetFunction returned as ``Code.Location``;
- ``GET /_roost/logs/{FunctionName}?since=<epoch ms>``: the caller's function logs
  (``roost logs``), signed with SigV4 like every AWS request;
- ``GET|POST /_roost/faults``: the node's store fault plans (``fault_endpoint``),
  signed with SigV4, only on a node started with ``ROOST_FAULT_INJECTION=1``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import parse_qs, unquote

from roost.api.errors import AwsError, InvalidParameterValueException
from roost.api.response import WireResponse
from roost.auth.sigv4 import SignedRequest
from roost.frontend.code_links import PATH_PREFIX as CODE_PREFIX
from roost.frontend.code_links import CodeLinkSigner
from roost.frontend.fault_endpoint import FAULTS_PATH, FaultEndpoint
from roost.frontend.http import HttpRequest, HttpResponse
from roost.functions.naming import access_denied, check_region, function_arn, parse_function_name
from roost.observability.prometheus import CONTENT_TYPE as METRICS_CONTENT_TYPE
from roost.store.errors import BlobNotFound
from roost.store.faults import FaultSwitch
from roost.store.ports import CodeStore
from roost.worker.log_store import LogStore

PREFIX = "/_roost/"
HEALTH_PATH = "/_roost/health"
METRICS_PATH = "/metrics"
LOGS_PREFIX = "/_roost/logs/"
LOGS_UNTIL_HEADER = "X-Roost-Logs-Until"
# The endpoints take no body; anything more than a little is refused.
MAX_BODY_BYTES = 64 * 1024


class Authenticator(Protocol):
    """Turns a signed request into the caller's account (or raises an AwsError)."""

    async def authenticate(self, request: SignedRequest) -> tuple[str, str]:
        """Return ``(account_id, access_key_id)`` of a correctly signed request."""


def is_roost_path(path: str) -> bool:
    """Whether ``path`` is one of Roost's own endpoints rather than the AWS API."""
    return path.startswith(PREFIX) or path == METRICS_PATH


def _text(status: int, text: str) -> HttpResponse:
    return HttpResponse(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})


class RoostEndpoints:
    """Answers the ``/_roost/`` paths."""

    def __init__(
        self,
        authenticator: Authenticator,
        region: str,
        health: Callable[[], Awaitable[dict[str, object]]],
        code: CodeStore,
        code_links: CodeLinkSigner,
        logs: LogStore | None,
        metrics: Callable[[], Awaitable[str]] | None = None,
        faults: FaultSwitch | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._faults = FaultEndpoint(faults) if faults is not None else None
        self._metrics = metrics
        self._region = region
        self._health = health
        self._code = code
        self._code_links = code_links
        self._logs = logs

    async def handle(self, request: HttpRequest) -> HttpResponse | None:
        """The answer to a ``/_roost/`` request; None for the signed endpoints.

        The answers of the logs and faults endpoints are AWS-shaped (errors
        included), so the front door renders them: ``answer`` does the work.
        """
        path = request.raw_path
        if path == HEALTH_PATH:
            if request.method != "GET":
                return _text(405, "Method Not Allowed")
            body = json.dumps(await self._health()).encode()
            return HttpResponse(200, body, {"Content-Type": "application/json"})
        if path == METRICS_PATH and self._metrics is not None:
            if request.method != "GET":
                return _text(405, "Method Not Allowed")
            text = await self._metrics()
            return HttpResponse(200, text.encode(), {"Content-Type": METRICS_CONTENT_TYPE})
        if path.startswith(CODE_PREFIX) and "/" not in path[len(CODE_PREFIX) :]:
            if request.method != "GET":
                return _text(405, "Method Not Allowed")
            return await self._code_blob(request, path[len(CODE_PREFIX) :])
        if self.is_logs(request) or self.is_faults(request):
            return None
        return _text(404, "Not Found")

    def is_faults(self, request: HttpRequest) -> bool:
        """Whether the request is for the faults endpoint (enabled on this node)."""
        return self._faults is not None and request.raw_path == FAULTS_PATH

    async def answer(self, request: HttpRequest) -> WireResponse:
        """The answer of a signed endpoint (logs or faults), once the caller is known."""
        if self._faults is not None and self.is_faults(request):
            await self._authenticate(request)
            return await self._faults.answer(request)
        return await self.logs(request)

    async def _authenticate(self, request: HttpRequest) -> str:
        account_id, _ = await self._authenticator.authenticate(
            SignedRequest(
                request.method,
                request.raw_path,
                request.raw_query,
                request.headers,
                request.body,
                folded=True,
            )
        )
        return account_id

    def is_logs(self, request: HttpRequest) -> bool:
        """Whether the request is for the logs endpoint."""
        rest = request.raw_path[len(LOGS_PREFIX) :]
        return (
            self._logs is not None
            and request.raw_path.startswith(LOGS_PREFIX)
            and rest != ""
            and "/" not in rest
        )

    async def _code_blob(self, request: HttpRequest, sha256: str) -> HttpResponse:
        query = parse_qs(request.raw_query)
        expires = query.get("expires", [""])[0]
        signature = query.get("signature", [""])[0]
        if not self._code_links.check(sha256, expires, signature):
            return _text(403, "Request has expired or its signature is invalid.")
        try:
            blob = await self._code.get(sha256)
        except BlobNotFound:
            return _text(404, "No such code package.")
        return HttpResponse(200, blob, {"Content-Type": "application/zip"})

    async def logs(self, request: HttpRequest) -> WireResponse:
        """The caller's function logs stored at or after ``since``.

        The body is the log text; the ``X-Roost-Logs-Until`` header is the
        ``since`` that returns only what is stored after this answer.
        """
        assert self._logs is not None
        if request.method != "GET":
            raise AwsError("Only GET reads logs.", code="MethodNotAllowed", status=405)
        account_id = await self._authenticate(request)
        value = unquote(request.raw_path[len(LOGS_PREFIX) :])
        check_region(value, self._region)
        ref = parse_function_name(value)
        if ref.account_id is not None and ref.account_id != account_id:
            arn = function_arn(ref.region or self._region, ref.account_id, ref.name)
            raise access_denied(account_id, "GetLogs", arn)
        since = _since_ms(parse_qs(request.raw_query).get("since", [None])[0])
        page = await self._logs.page(account_id, ref.name, since)
        return WireResponse(
            200,
            page.text,
            {"Content-Type": "text/plain; charset=utf-8", LOGS_UNTIL_HEADER: str(page.until_ms)},
        )


def _since_ms(value: str | None) -> int:
    """The ``since`` query parameter: epoch milliseconds, 0 (everything) if absent."""
    if value is None or value == "":
        return 0
    if not (value.isascii() and value.isdigit()) or len(value) > 16:
        raise InvalidParameterValueException(
            f"since must be a time in milliseconds since the epoch, not '{value}'."
        )
    return int(value)
