"""The Lambda Runtime API, served by the worker host for one execution environment.

Each environment gets its own listening socket on 127.0.0.1 (the runtime client
finds it through ``AWS_LAMBDA_RUNTIME_API``). The server is a plain asyncio
protocol over httptools rather than an ASGI app: a warm invoke is a handful of
small requests, and routing through a framework costs more CPU than the invoke.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import httptools

log = logging.getLogger(__name__)

PREFIX = b"/2018-06-01/runtime"
# AWS's documented response limit (6 MB as 6,291,556 bytes, not 6 MiB).
MAX_RESPONSE_BYTES = 6_291_556
# Room for the headers and a few bytes over, so an oversize body is detected.
_MAX_BODY_BYTES = MAX_RESPONSE_BYTES + 1024 * 1024

_RESPONSE = re.compile(rb"^/invocation/([^/]+)/(response|error)$")


@dataclass(frozen=True)
class Invocation:
    """One event handed to the runtime client by ``/invocation/next``."""

    request_id: str
    payload: bytes
    deadline_ms: int
    invoked_function_arn: str
    trace_id: str
    client_context: str | None = None
    cognito_identity: str | None = None

    def headers(self) -> list[tuple[str, str]]:
        """The ``Lambda-Runtime-*`` headers of ``/invocation/next``."""
        found = [
            ("Lambda-Runtime-Aws-Request-Id", self.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(self.deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", self.invoked_function_arn),
            ("Lambda-Runtime-Trace-Id", self.trace_id),
        ]
        if self.client_context:
            found.append(("Lambda-Runtime-Client-Context", _header_safe(self.client_context)))
        if self.cognito_identity:
            found.append(("Lambda-Runtime-Cognito-Identity", self.cognito_identity))
        return found


def _header_safe(document: str) -> str:
    """A JSON document as one line of ASCII, which a header can carry. The front ends
    pass it so already; an async event queued by an older Roost may carry it as sent."""
    if document.isascii() and "\n" not in document and "\r" not in document:
        return document
    try:
        return json.dumps(json.loads(document), separators=(",", ":"))
    except ValueError:
        return json.dumps(document)  # Not JSON: still one ASCII line.


Deliver = Callable[[Invocation], None]
"""Answers a parked ``/invocation/next`` with its event."""


class NextInvocation:
    """The hand-off between an invoke and the runtime's ``/next``: one event, one waiter.

    Delivery is a plain call, not a queue and a task: a warm invoke is a handful
    of these hand-offs, and each asyncio object in between costs CPU on every one.
    """

    def __init__(self) -> None:
        self._event: Invocation | None = None
        self._waiter: Deliver | None = None
        # The request id of the event the runtime holds, until it answers.
        self.handed_over: str | None = None

    def put(self, invocation: Invocation) -> None:
        """Hand over an event: to the waiting runtime now, or to its next ``/next``."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._hand_over(invocation, waiter)
        else:
            self._event = invocation

    def wait(self, deliver: Deliver) -> None:
        """The runtime asks for an event: ``deliver`` gets it now or when one arrives."""
        event, self._event = self._event, None
        if event is not None:
            self._hand_over(event, deliver)
        else:
            self._waiter = deliver

    def _hand_over(self, invocation: Invocation, deliver: Deliver) -> None:
        self.handed_over = invocation.request_id
        deliver(invocation)

    def abandon(self, deliver: Deliver) -> None:
        """A parked ``/next`` went away: it must not take the next event."""
        if self._waiter == deliver:
            self._waiter = None


class RuntimeApiHandler(Protocol):
    """What the server asks of the environment it serves."""

    def wait_next(self, deliver: Deliver) -> None:
        """The runtime is idle and asks for an event; ``deliver`` it when there is one."""

    def abandon_next(self, deliver: Deliver) -> None:
        """The connection of a waiting ``/next`` closed before it got an event."""

    def invocation_response(self, request_id: str, body: bytes) -> int:
        """A result arrived; returns the HTTP status to answer (202 when accepted)."""

    def invocation_error(self, request_id: str, body: bytes, error_type: str | None) -> int:
        """An error document arrived for an invocation; returns the HTTP status."""

    def init_error(self, body: bytes, error_type: str | None) -> int:
        """Initialisation failed; returns the HTTP status."""

    def owns_peer(self, peer: tuple[str, int], local: tuple[str, int]) -> bool:
        """Whether a connection comes from the environment's own processes."""

    async def assignment(self) -> bytes:
        """Wait until a pre-warmed environment is given a function (JSON variables)."""


def _reply(status: int, body: bytes, extra: list[tuple[str, str]] | None = None) -> bytes:
    reason = {
        200: "OK",
        202: "Accepted",
        400: "Bad Request",
        404: "Not Found",
        413: "Payload Too Large",
        500: "Internal Server Error",
    }.get(status, "Error")
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in extra or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_ACCEPTED = json.dumps({"status": "OK"}).encode()
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(slots=True)
class _Request:
    """One parsed request, kept until the ones before it on its connection are answered."""

    method: bytes
    path: bytes
    headers: dict[bytes, bytes]
    body: bytes
    body_size: int
    keep_alive: bool


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class _Connection(asyncio.Protocol):
    """One runtime-client connection; requests are answered strictly in order.

    A parked ``/next`` holds the connection: requests pipelined behind it wait in
    a backlog, and so does the ``100 Continue`` a request with ``Expect:
    100-continue`` is owed (curl sends that header for larger bodies and waits a
    second for the interim reply before sending the body anyway). A request
    without keep-alive (``Connection: close``, HTTP/1.0) gets its reply and then
    the connection is closed, so clients that read to end-of-stream finish.

    Replies are gathered and written once per batch of input. A runtime client
    that pipelines its result with its next ``/next`` (Roost's own does) gets the
    result's ``202`` together with the next event: it is waiting for both, and one
    write and one wake-up of the environment per invoke is what that saves.
    """

    def __init__(
        self, handler: RuntimeApiHandler, live: set[_Connection], trusted: bool = False
    ) -> None:
        self._handler = handler
        self._live = live
        self._trusted = trusted
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._pending: asyncio.Task[None] | None = None
        # A parked /next: its keep-alive flag (None when none is parked).
        self._parked_next: bool | None = None
        self._deliver: Deliver = self._answer_next
        self._backlog: deque[_Request] = deque()
        self._continue_owed = False
        self._out: list[bytes] = []

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)
        # Functions share the host's network: only the environment's own
        # processes may use its Runtime API, or one function could take
        # another's events.
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        owned = self._trusted or (peer and local and self._handler.owns_peer(peer[:2], local[:2]))
        if not owned:
            log.warning("refused a Runtime API connection from %s: not the environment's", peer)
            self._transport.close()
            return
        self._live.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # Unix sockets have no Nagle to disable.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(_reply(400, _error_body("InvalidRequest", "Malformed HTTP request")))
            self._close_transport()
            return
        if not self._waiting:
            self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._live.discard(self)
        # A parked /next whose client went away must not swallow the next event.
        if self._parked_next is not None:
            self._parked_next = None
            self._handler.abandon_next(self._deliver)
        if self._pending is not None:
            self._pending.cancel()

    def close(self) -> None:
        """Drop the connection (the environment is going away)."""
        self._close_transport()

    def _close_transport(self) -> None:
        self._flush()
        if self._transport is not None:
            self._transport.close()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        expect = self._headers.get(b"expect", b"").strip().lower()
        if expect == b"100-continue" and self._parser.get_http_version() != "1.0":
            if self._busy:
                self._continue_owed = True
            else:
                self._send(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size <= _MAX_BODY_BYTES:
            self._body.append(body)

    def on_message_complete(self) -> None:
        request = _Request(
            method=self._parser.get_method(),
            path=self._url.partition(b"?")[0],
            headers=self._headers,
            body=b"".join(self._body),
            body_size=self._body_size,
            keep_alive=self._parser.should_keep_alive(),
        )
        self._body = []
        if self._busy:
            self._backlog.append(request)
        else:
            self._handle(request)

    # Requests

    @property
    def _waiting(self) -> bool:
        """Whether a request waits for the environment (a parked /next, an assignment)."""
        return self._pending is not None or self._parked_next is not None

    @property
    def _busy(self) -> bool:
        """Whether an earlier request on this connection still awaits its reply."""
        return self._waiting or bool(self._backlog)

    def _handle(self, request: _Request) -> None:
        route = request.path[len(PREFIX) :] if request.path.startswith(PREFIX) else None
        if request.method == b"GET" and route == b"/invocation/next":
            self._parked_next = request.keep_alive
            self._handler.wait_next(self._deliver)
            return
        if request.method == b"GET" and route == b"/roost/assignment":
            self._pending = asyncio.get_running_loop().create_task(
                self._serve_assignment(request.keep_alive)
            )
            return
        if route is None or request.method != b"POST":
            reply = _reply(404, _error_body("NotFound", "Unknown Runtime API path"))
        else:
            reply = self._dispatch_post(route, request)
        self._answer(reply, request.keep_alive)

    def _answer(self, reply: bytes, keep_alive: bool) -> None:
        self._send(reply)
        if not keep_alive and self._transport is not None:
            self._backlog.clear()
            self._close_transport()

    def _resume(self) -> None:
        """Answer what queued up behind a ``/next`` that has now been answered."""
        while self._backlog and not self._waiting:
            self._handle(self._backlog.popleft())
        if self._continue_owed and not self._busy:
            self._continue_owed = False
            self._send(_CONTINUE)

    def _dispatch_post(self, route: bytes, request: _Request) -> bytes:
        body = request.body
        error_type_raw = request.headers.get(b"lambda-runtime-function-error-type")
        error_type = error_type_raw.decode("latin-1") if error_type_raw else None
        if route == b"/init/error":
            return self._status_reply(self._handler.init_error(body, error_type))
        found = _RESPONSE.match(route)
        if found is None:
            return _reply(404, _error_body("NotFound", "Unknown Runtime API path"))
        request_id = found.group(1).decode("latin-1")
        if request.body_size > MAX_RESPONSE_BYTES:
            # An error report as large is refused as a response would be: only its
            # first megabytes were kept, and they would reach the caller as cut JSON.
            status = self._handler.invocation_error(
                request_id, _oversize(request.body_size), "Function.ResponseSizeTooLarge"
            )
            return _reply(
                413 if status == 202 else status,
                _error_body(
                    "RequestEntityTooLarge",
                    f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
                ),
            )
        if found.group(2) == b"error":
            return self._status_reply(self._handler.invocation_error(request_id, body, error_type))
        return self._status_reply(self._handler.invocation_response(request_id, body))

    @staticmethod
    def _status_reply(status: int) -> bytes:
        if status == 202:
            return _reply(202, _ACCEPTED)
        if status == 400:
            return _reply(400, _error_body("InvalidRequestID", "Invalid request ID"))
        return _reply(status, _error_body("InvalidStateTransition", "Invalid request"))

    def _answer_next(self, invocation: Invocation) -> None:
        keep_alive, self._parked_next = self._parked_next, None
        if keep_alive is None:
            return  # The connection went away meanwhile.
        self._answer(_reply(200, invocation.payload, invocation.headers()), keep_alive)
        self._flush()
        self._resume()
        if not self._waiting:
            self._flush()

    async def _serve_assignment(self, keep_alive: bool) -> None:
        try:
            variables = await self._handler.assignment()
        except asyncio.CancelledError:
            return
        self._pending = None
        self._answer(_reply(200, variables), keep_alive)
        self._flush()
        self._resume()
        if not self._waiting:
            self._flush()

    def _send(self, data: bytes) -> None:
        self._out.append(data)

    def _flush(self) -> None:
        """Write the replies gathered so far in one go."""
        if not self._out:
            return
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


def _oversize(size: int) -> bytes:
    return _error_body(
        "Function.ResponseSizeTooLarge",
        f"Response payload size ({size} bytes) exceeded maximum allowed payload size "
        f"({MAX_RESPONSE_BYTES} bytes).",
    )


class RuntimeApiServer:
    """Listens on 127.0.0.1 for one environment's runtime client."""

    def __init__(self, handler: RuntimeApiHandler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._live: set[_Connection] = set()
        self._unix_server: asyncio.AbstractServer | None = None
        self._unix_path: Path | None = None
        self.port = 0

    @property
    def address(self) -> str:
        """The ``AWS_LAMBDA_RUNTIME_API`` value (``host:port``)."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Bind an ephemeral port and accept connections."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self._handler, self._live), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def start_unix(self, path: Path) -> None:
        """Also accept connections on a Unix socket only this environment can see.

        Used when the environment has no network: the socket is mounted into its
        sandbox alone, so its connections need no peer check.
        """
        loop = asyncio.get_running_loop()
        path.unlink(missing_ok=True)
        self._unix_server = await loop.create_unix_server(
            lambda: _Connection(self._handler, self._live, trusted=True), str(path)
        )
        os.chmod(path, 0o666)
        self._unix_path = path

    async def close(self) -> None:
        """Stop listening and drop connections (parked ``/next`` calls included)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._unix_server is not None:
            self._unix_server.close()
            self._unix_server = None
        if self._unix_path is not None:
            self._unix_path.unlink(missing_ok=True)
            self._unix_path = None
        for connection in list(self._live):
            connection.close()
