"""The HTTP front door: health, then authentication, routing and the planes.

Every AWS request is matched to an operation of the model by method and path,
authenticated with SigV4, parsed and validated against the model, and handed to
the router of its plane (control or invoke). Errors leave in AWS's shape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from roost.api.errors import (
    AwsError,
    InvalidParameterValueException,
    RequestEntityTooLargeException,
    RequestTooLargeException,
    ServiceException,
)
from roost.api.model import Plane, operation_table
from roost.api.request import parse_input
from roost.api.request_ids import new_request_id
from roost.api.response import WireResponse, render_error, render_output
from roost.api.validation import validate_input
from roost.auth.sigv4 import SignedRequest
from roost.frontend.code_links import PATH_PREFIX, CodeLinkSigner
from roost.frontend.context import RequestContext
from roost.frontend.http import BodyTooLarge, HttpRequest, Receive, Scope, Send, respond
from roost.frontend.router import PlaneRouter
from roost.functions.naming import access_denied, check_region, function_arn, parse_function_name
from roost.store.errors import BlobNotFound, StoreUnavailable
from roost.store.ports import CodeStore
from roost.worker.log_store import LogStore

log = logging.getLogger(__name__)

# A 50 MB zip travels base64-encoded inside JSON: about 70 MB of body.
CONTROL_MAX_BODY_BYTES = 75 * 1024 * 1024
# AWS's sync invoke request limit; the async plane applies its own below it.
INVOKE_MAX_BODY_BYTES = 6 * 1024 * 1024
# Roost's own logs endpoint (``roost logs``), signed like an AWS request.
LOGS_PATH_PREFIX = "/_roost/logs/"
LOGS_UNTIL_HEADER = "X-Roost-Logs-Until"
_LOGS_MAX_BODY_BYTES = 64 * 1024


class Authenticator(Protocol):
    """Turns a signed request into the caller's account (or raises an AwsError)."""

    async def authenticate(self, request: SignedRequest) -> tuple[str, str]:
        """Return ``(account_id, access_key_id)`` of a correctly signed request."""


class FrontDoor:
    """The ASGI application Roost serves."""

    def __init__(
        self,
        routers: Mapping[Plane, PlaneRouter],
        authenticator: Authenticator,
        region: str,
        health: Callable[[], Awaitable[dict[str, object]]],
        code: CodeStore,
        code_links: CodeLinkSigner,
        logs: LogStore | None = None,
    ) -> None:
        self._routers = dict(routers)
        self._authenticator = authenticator
        self._region = region
        self._health = health
        self._code = code
        self._code_links = code_links
        self._logs = logs
        self._table = operation_table()
        routes = [
            Route("/_roost/health", self._health_endpoint, methods=["GET"]),
            Route(PATH_PREFIX + "{sha256}", self._code_endpoint, methods=["GET"]),
        ]
        if logs is not None:
            logs_route = LOGS_PATH_PREFIX + "{function_name}"
            routes.append(Route(logs_route, self._logs_endpoint, methods=["GET"]))
        self.app = Starlette(routes=routes)

    async def _health_endpoint(self, request: Request) -> Response:
        return JSONResponse(await self._health())

    async def _code_endpoint(self, request: Request) -> Response:
        sha256 = request.path_params["sha256"]
        query = request.query_params
        if not self._code_links.check(sha256, query.get("expires", ""), query.get("signature", "")):
            return Response(b"Request has expired or its signature is invalid.", status_code=403)
        try:
            blob = await self._code.get(sha256)
        except BlobNotFound:
            return Response(b"No such code package.", status_code=404)
        return Response(blob, media_type="application/zip")

    async def _logs_endpoint(self, request: Request) -> Response:
        """``GET /_roost/logs/{FunctionName}?since=<epoch ms>``: the caller's function logs.

        Authenticated with SigV4 (service ``lambda``) like every AWS request and
        scoped to the caller's account. The body is the log text of the entries
        stored at or after ``since``; the ``X-Roost-Logs-Until`` header is the
        ``since`` that returns only what is stored after this answer.
        """
        request_id = new_request_id()
        try:
            wire = await self._serve_logs(request)
        except AwsError as error:
            wire = render_error(error, request_id)
        except Exception:
            log.exception("unhandled error serving request %s", request_id)
            wire = render_error(ServiceException("Internal failure."), request_id)
        headers = {"x-amzn-RequestId": request_id, **wire.headers}
        return Response(wire.body, status_code=wire.status, headers=headers)

    async def _serve_logs(self, request: Request) -> WireResponse:
        assert self._logs is not None
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        body = await _read_body(request, _LOGS_MAX_BODY_BYTES, "GetLogs")
        headers = {k.lower(): v for k, v in request.headers.items()}
        account_id, _ = await self._authenticator.authenticate(
            SignedRequest(request.method, raw_path.partition("?")[0], raw_query, headers, body)
        )
        value = request.path_params["function_name"]
        check_region(value, self._region)
        ref = parse_function_name(value)
        if ref.account_id is not None and ref.account_id != account_id:
            arn = function_arn(ref.region or self._region, ref.account_id, ref.name)
            raise access_denied(account_id, "GetLogs", arn)
        since = _since_ms(request.query_params.get("since"))
        page = await self._logs.page(account_id, ref.name, since)
        return WireResponse(
            200,
            page.text,
            {"Content-Type": "text/plain; charset=utf-8", LOGS_UNTIL_HEADER: str(page.until_ms)},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: the AWS API directly, Roost's own endpoints through Starlette."""
        if scope["type"] != "http" or scope["path"].startswith("/_roost/"):
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        request = HttpRequest.from_scope(scope, receive)
        try:
            wire = await self._serve(request, request_id)
        except AwsError as error:
            wire = render_error(error, request_id)
        except StoreUnavailable:
            log.warning("store unavailable while serving request %s", request_id)
            unavailable = AwsError(
                "The service is temporarily unable to serve the request.",
                code="ServiceUnavailableException",
            )
            wire = render_error(unavailable, request_id)
        except Exception:
            log.exception("unhandled error serving request %s", request_id)
            wire = render_error(ServiceException("Internal failure."), request_id)
        headers = {"x-amzn-RequestId": request_id, **wire.headers}
        await respond(send, wire.status, headers, wire.body)

    async def _serve(self, request: HttpRequest, request_id: str) -> WireResponse:
        raw_path = request.raw_path
        query = parse_qs(request.raw_query, keep_blank_values=True)
        match = self._table.match(request.method, raw_path, query)
        if match is None:
            raise AwsError(
                f"No Lambda operation matches {request.method} {raw_path}.",
                code="UnknownOperationException",
            )
        operation = match.operation
        limit = INVOKE_MAX_BODY_BYTES if operation.plane is Plane.INVOKE else CONTROL_MAX_BODY_BYTES
        try:
            body = await request.body(limit)
        except BodyTooLarge:
            raise _too_large(limit, operation.name) from None
        headers = request.headers
        account_id, access_key_id = await self._authenticator.authenticate(
            SignedRequest(request.method, raw_path, request.raw_query, headers, body)
        )
        params = parse_input(match, query, headers, body)
        if operation.model.input_shape is not None:
            validate_input(operation.model.input_shape, params)
        function_name = params.get("FunctionName")
        if isinstance(function_name, str):
            check_region(function_name, self._region)
        ctx = RequestContext(
            account_id, access_key_id, request_id, self._region, operation.name, request.base_url
        )
        output = await self._routers[operation.plane].dispatch(ctx, params)
        return render_output(operation, output)


def _since_ms(value: str | None) -> int:
    """The ``since`` query parameter: epoch milliseconds, 0 (everything) if absent."""
    if value is None or value == "":
        return 0
    if not (value.isascii() and value.isdigit()) or len(value) > 16:
        raise InvalidParameterValueException(
            f"since must be a time in milliseconds since the epoch, not '{value}'."
        )
    return int(value)


async def _read_body(request: Request, limit: int, operation: str) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, operation)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, operation)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, operation: str) -> AwsError:
    if operation.startswith("Invoke"):
        return RequestTooLargeException(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )
    return RequestEntityTooLargeException(
        f"Request must be smaller than {limit} bytes for the {operation} operation"
    )
