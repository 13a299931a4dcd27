"""The front door's application: Roost's own endpoints, then the AWS API.

Every AWS request is matched to an operation of the model by method and path
(once, when its head arrives, so the body can be held to the operation's limit),
authenticated with SigV4, parsed and validated against the model, and handed to
the router of its plane (control or invoke). Errors leave in AWS's shape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol
from urllib.parse import parse_qs

from roost.api.errors import (
    AwsError,
    RequestEntityTooLargeException,
    RequestTooLargeException,
    ServiceException,
)
from roost.api.model import Plane, dispatch_plane, operation_table
from roost.api.request import parse_input
from roost.api.request_ids import new_request_id
from roost.api.response import WireResponse, render_error, render_output
from roost.api.validation import InputValidator
from roost.auth.sigv4 import SignedRequest
from roost.cluster.invoke_wire import CLUSTER_INVOKE_PATH
from roost.frontend.code_links import CodeLinkSigner
from roost.frontend.context import RequestContext
from roost.frontend.http import HttpRequest, HttpResponse
from roost.frontend.roost_endpoints import MAX_BODY_BYTES as ROOST_MAX_BODY_BYTES
from roost.frontend.roost_endpoints import Authenticator, RoostEndpoints, is_roost_path
from roost.frontend.router import PlaneRouter
from roost.functions.naming import check_region
from roost.store.errors import StoreUnavailable
from roost.store.faults import FaultSwitch
from roost.store.ports import CodeStore
from roost.worker.log_store import LogStore

log = logging.getLogger(__name__)

# A 50 MB zip travels base64-encoded inside JSON: about 70 MB of body.
CONTROL_MAX_BODY_BYTES = 75 * 1024 * 1024
# AWS's sync invoke request limit; the async plane applies its own below it.
INVOKE_MAX_BODY_BYTES = 6 * 1024 * 1024
# The code of the 503 answered while the config store is unavailable (see
# docs/resilience.md: Lambda's model has no 503 error shape, and AWS answers
# this generic code for a service that is temporarily unavailable).
STORE_UNAVAILABLE_CODE = "ServiceUnavailableException"
# AWS's async invoke payload limit, checked here too so a large body is not read.
ASYNC_INVOKE_MAX_BODY_BYTES = 1024 * 1024


class InternalEndpoint(Protocol):
    """An endpoint only the nodes of a cluster call (``roost.cluster.worker_endpoint``)."""

    async def answer(self, request: HttpRequest) -> WireResponse:
        """The answer; ``AwsError`` is rendered in AWS's shape."""


class FrontDoor:
    """The application the HTTP server runs: Roost's endpoints and the AWS API."""

    def __init__(
        self,
        routers: Mapping[Plane, PlaneRouter],
        authenticator: Authenticator,
        region: str,
        health: Callable[[], Awaitable[dict[str, object]]],
        code: CodeStore,
        code_links: CodeLinkSigner,
        logs: LogStore | None = None,
        metrics: Callable[[], Awaitable[str]] | None = None,
        faults: FaultSwitch | None = None,
        cluster: InternalEndpoint | None = None,
        served: frozenset[Plane] | None = None,
    ) -> None:
        self._routers = dict(routers)
        # The planes this node's roles serve (None: all of them, a single node).
        self._served = served
        # The internal invoke endpoint of a cluster's worker host (None: not one).
        self._cluster = cluster
        self._authenticator = authenticator
        self._region = region
        self._table = operation_table()
        self._validator = InputValidator()
        self._roost = RoostEndpoints(
            authenticator, region, health, code, code_links, logs, metrics, faults
        )

    def _is_cluster_invoke(self, request: HttpRequest) -> bool:
        return self._cluster is not None and request.raw_path == CLUSTER_INVOKE_PATH

    def body_limit(self, request: HttpRequest) -> int:
        """The operation's body limit (matching the operation once, for ``handle``)."""
        if self._is_cluster_invoke(request):
            return INVOKE_MAX_BODY_BYTES
        if is_roost_path(request.raw_path):
            return ROOST_MAX_BODY_BYTES
        query = parse_qs(request.raw_query, keep_blank_values=True) if request.raw_query else {}
        match = self._table.match(request.method, request.raw_path, query)
        request.route = (match, query)
        if match is None:
            return ROOST_MAX_BODY_BYTES  # Refused anyway: no reason to read much.
        if match.operation.plane is Plane.INVOKE:
            return _invoke_body_limit(request, match.operation.name)
        return CONTROL_MAX_BODY_BYTES

    def too_large(self, request: HttpRequest) -> HttpResponse:
        """RequestTooLargeException (invoke) or RequestEntityTooLargeException."""
        if is_roost_path(request.raw_path):
            error = _too_large(ROOST_MAX_BODY_BYTES, "GetLogs")
        else:
            match = request.route[0] if request.route else None
            if match is not None and match.operation.plane is Plane.INVOKE:
                limit = _invoke_body_limit(request, match.operation.name)
                error = _too_large(limit, match.operation.name)
            elif match is not None:
                error = _too_large(CONTROL_MAX_BODY_BYTES, match.operation.name)
            else:
                error = AwsError(
                    f"No Lambda operation matches {request.method} {request.raw_path}.",
                    code="UnknownOperationException",
                )
        request_id = new_request_id()
        return _http(render_error(error, request_id), request_id)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request; AWS errors leave in AWS's shape."""
        if is_roost_path(request.raw_path) and not self._is_cluster_invoke(request):
            answer = await self._roost.handle(request)
            if answer is not None:
                return answer
        request_id = new_request_id()
        try:
            if self._cluster is not None and self._is_cluster_invoke(request):
                wire = await self._cluster.answer(request)
            elif is_roost_path(request.raw_path):
                wire = await self._roost.answer(request)
            else:
                wire = await self._serve(request, request_id)
        except AwsError as error:
            wire = render_error(error, request_id)
        except StoreUnavailable as error:
            log.warning("store unavailable while serving request %s: %s", request_id, error)
            unavailable = AwsError(
                f"The service cannot serve the request now ({error}); retry later.",
                code=STORE_UNAVAILABLE_CODE,
            )
            wire = render_error(unavailable, request_id)
        except Exception:
            log.exception("unhandled error serving request %s", request_id)
            wire = render_error(ServiceException("Internal failure."), request_id)
        return _http(wire, request_id)

    async def _serve(self, request: HttpRequest, request_id: str) -> WireResponse:
        match, _ = request.route
        if match is None:
            raise AwsError(
                f"No Lambda operation matches {request.method} {request.raw_path}.",
                code="UnknownOperationException",
            )
        operation = match.operation
        plane = dispatch_plane(operation.name, request.headers.get("x-amz-invocation-type"))
        if self._served is not None and plane not in self._served:
            raise AwsError(
                f"This node does not run the role that serves {operation.name} "
                f"({plane.value} requests); send it to a node that does.",
                code=STORE_UNAVAILABLE_CODE,
                status=503,
            )
        router = self._routers.get(plane)
        if router is None:  # No async plane on this node: the invoke plane answers.
            router = self._routers[operation.plane]
        async with router.admission:
            return await self._serve_admitted(request, request_id, router)

    async def _serve_admitted(
        self, request: HttpRequest, request_id: str, router: PlaneRouter
    ) -> WireResponse:
        match, query = request.route
        operation = match.operation
        headers = request.headers
        body = request.body
        account_id, access_key_id = await self._authenticator.authenticate(
            SignedRequest(
                request.method, request.raw_path, request.raw_query, headers, body, folded=True
            )
        )
        params = parse_input(match, query, headers, body)
        if operation.model.input_shape is not None:
            self._validator.validate(operation.model.input_shape, params)
        function_name = params.get("FunctionName")
        if isinstance(function_name, str):
            check_region(function_name, self._region)
        ctx = RequestContext(
            account_id, access_key_id, request_id, self._region, operation.name, request.base_url
        )
        output = await router.dispatch_admitted(ctx, params)
        return render_output(operation, output)


def _invoke_body_limit(request: HttpRequest, operation: str) -> int:
    """An invoke's body is its payload: 1 MB for async invokes, else 6 MB."""
    invocation_type = request.headers.get("x-amz-invocation-type")
    if operation == "InvokeAsync" or (operation == "Invoke" and invocation_type == "Event"):
        return ASYNC_INVOKE_MAX_BODY_BYTES
    return INVOKE_MAX_BODY_BYTES


def _http(wire: WireResponse, request_id: str) -> HttpResponse:
    return HttpResponse(wire.status, wire.body, {"x-amzn-RequestId": request_id, **wire.headers})


def _too_large(limit: int, operation: str) -> AwsError:
    if operation.startswith("Invoke"):
        return RequestTooLargeException(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )
    return RequestEntityTooLargeException(
        f"Request must be smaller than {limit} bytes for the {operation} operation"
    )
