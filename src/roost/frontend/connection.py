"""One client connection of the front door's HTTP/1.1 server.

Requests are parsed by httptools as bytes arrive and answered strictly in order,
one at a time, each with one write. What a client can make the server hold is
bounded: a request's head (``MAX_HEAD_BYTES``, counted as bytes arrive, not as
the parser hands over headers), its body (the application's limit for the
operation, checked against the declared length and while it streams), one
complete request waiting behind the one being answered (reading pauses until
then), and time (a connection sending nothing for ``READ_TIMEOUT_S`` in the middle
of a request, or idle for the keep-alive between requests, is closed).

An oversize request is answered, then the connection lingers: the server stops
writing and drops what the client still sends for a while before closing, so the
answer is not lost to a reset while the client is still sending its body.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import httptools

from roost.frontend.http import HttpApp, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from roost.frontend.server import HttpServer

log = logging.getLogger(__name__)

# Beyond this many bytes of request line and headers a request is refused.
MAX_HEAD_BYTES = 64 * 1024
# A request in progress that receives nothing for this long is dropped.
READ_TIMEOUT_S = 30.0
# After refusing an oversize request: how long, and how much, to keep reading.
LINGER_S = 2.0
LINGER_MAX_BYTES = 8 * 1024 * 1024

_REASONS = {status.value: status.phrase for status in http.HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def plain(status: int, text: str) -> HttpResponse:
    """A short text answer of the server's own."""
    return HttpResponse(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})


def encode(response: HttpResponse, keep_alive: bool, date: str, head_only: bool) -> bytes:
    """Status line, headers and body as one buffer (always with Content-Length)."""
    status = response.status
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    lines.append(f"Content-Length: {len(response.body)}")
    lines.append(f"Date: {date}")
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


class _Queued:
    """A request waiting for its answer; ``refusal`` answers it without the application."""

    __slots__ = ("keep_alive", "refusal", "request")

    def __init__(
        self,
        request: HttpRequest,
        keep_alive: bool,
        refusal: Callable[[], HttpResponse] | None = None,
    ) -> None:
        self.request = request
        self.keep_alive = keep_alive
        self.refusal = refusal


class HttpConnection(asyncio.Protocol):
    """Parse, queue, answer in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._app: HttpApp = server.app
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        # The request being parsed (None between requests, or once refused).
        self._request: HttpRequest | None = None
        self._head_done = False
        self._head_bytes = 0
        self._url = b""
        self._body: list[bytes] = []
        self._body_size = 0
        self._limit = 0
        self._continue_owed = False
        # Parsing stopped for good (a refused or malformed request).
        self._stopped = False
        self._lingering = 0
        self._queue: deque[_Queued] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._reading_paused = False
        self._writable: asyncio.Future[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                # Nagle plus the client's delayed ACK would add tens of ms per request.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._server.connections.add(self)
        if self._server.closing:
            self.close()
            return
        self._arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None
        self._cancel_timer()
        self._queue.clear()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._server.connection_closed()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._linger_on(len(data))
            return
        if self._stopped:
            return
        if not self._head_done:
            # Counted before parsing: httptools gathers a header's value until
            # it is complete, so a callback would see a giant one too late.
            budget = MAX_HEAD_BYTES - self._head_bytes
            if len(data) > budget:
                self._feed(data[:budget])
                if self._stopped:
                    return
                if not self._head_done:
                    self._refuse(plain(431, "The request's headers are too large."))
                    return
                data = data[budget:]
            else:
                self._head_bytes += len(data)
        self._feed(data)
        self._arm_timer()

    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(plain(400, "Protocol upgrades are not supported."))
        except httptools.HttpParserError:
            self._refuse(plain(400, "Malformed HTTP request."))

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []
        self._body_size = 0
        self._continue_owed = False
        self._request = HttpRequest("", "", "", {})

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self._request
        if request is None:
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = request.headers
        headers[key] = f"{headers[key]},{text}" if key in headers else text

    def on_headers_complete(self) -> None:
        self._head_done = True
        self._head_bytes = 0
        request = self._request
        if request is None:
            return
        path, _, query = self._url.decode("latin-1").partition("?")
        request.method = self._parser.get_method().decode("latin-1")
        request.raw_path = path
        request.raw_query = query
        self._limit = self._app.body_limit(request)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._limit:
            self._refuse_oversize(request)
            return
        expect = request.headers.get("expect", "").strip().lower()
        if expect == "100-continue" and self._parser.get_http_version() != "1.0":
            if self._worker is None and not self._queue:
                self._write(_CONTINUE)
            else:
                self._continue_owed = True

    def on_body(self, body: bytes) -> None:
        request = self._request
        if request is None:
            return
        self._body_size += len(body)
        if self._body_size > self._limit:
            self._refuse_oversize(request)
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._head_done = False
        request = self._request
        if request is None:
            return
        self._request = None
        request.body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        self._enqueue(_Queued(request, self._parser.should_keep_alive()))

    # Refusals

    def _refuse_oversize(self, request: HttpRequest) -> None:
        """Answer an oversize request in its turn, then linger: its body is not read."""
        self._request = None
        self._stop_reading()
        self._enqueue(_Queued(request, False, lambda: self._app.too_large(request)))

    def _refuse(self, response: HttpResponse) -> None:
        """Answer a request that cannot be parsed (after those before it), then close."""
        self._request = None
        self._stop_reading()
        self._enqueue(_Queued(HttpRequest("", "", "", {}), False, lambda: response))

    def _stop_reading(self) -> None:
        self._stopped = True
        self._pause_reading()

    # Answering

    def _enqueue(self, queued: _Queued) -> None:
        self._queue.append(queued)
        if self._worker is None:
            self._worker = self._server.start_worker(self._work())
        elif not self._reading_paused:
            # One complete request may wait behind the one being answered; the
            # next is left in the socket until then (each may carry a big body).
            self._pause_reading()

    async def _work(self) -> None:
        try:
            while self._queue and self._transport is not None:
                queued = self._queue.popleft()
                response = await self._answer(queued)
                # Decided after the answer: a shutdown may have begun meanwhile.
                keep_alive = queued.keep_alive and not self._server.closing
                data = self._encode(queued.request, response, keep_alive)
                if self._writable is not None:
                    await self._writable
                self._write(data)
                if queued.refusal is not None and self._stopped:
                    self._linger()
                    return
                if not keep_alive:
                    self.close()
                    return
                if not self._queue and not self._stopped:
                    self._resume_reading()
        finally:
            self._worker = None
        if self._continue_owed and self._request is not None:
            self._continue_owed = False
            self._write(_CONTINUE)
        self._arm_timer()

    async def _answer(self, queued: _Queued) -> HttpResponse:
        request = queued.request
        try:
            if queued.refusal is not None:
                return queued.refusal()
            return await self._app.handle(request)
        except Exception:
            log.exception("unhandled error answering %s %s", request.method, request.raw_path)
            return plain(500, "Internal Server Error")

    def _encode(self, request: HttpRequest, response: HttpResponse, keep_alive: bool) -> bytes:
        date = self._server.clock.date()
        try:
            return encode(response, keep_alive, date, request.method == "HEAD")
        except Exception:  # e.g. a header value that is not latin-1
            log.exception("could not encode the answer to %s %s", request.method, request.raw_path)
            return encode(plain(500, "Internal Server Error"), keep_alive, date, False)

    def _pause_reading(self) -> None:
        if self._transport is not None and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    # Lingering after a refusal

    def _linger(self) -> None:
        """Stop writing, drop what the client still sends, close after a while."""
        transport = self._transport
        if transport is None:
            return
        if not transport.can_write_eof():
            self.close()
            return
        transport.write_eof()
        self._lingering = 1
        self._resume_reading()
        self._cancel_timer()
        self._deadline = asyncio.get_running_loop().time() + LINGER_S
        self._timer = asyncio.get_running_loop().call_at(self._deadline, self.close)

    def _linger_on(self, received: int) -> None:
        self._lingering += received
        if self._lingering > LINGER_MAX_BYTES:
            self.close()

    # Timers

    def _arm_timer(self) -> None:
        """Keep-alive between requests, read timeout inside one, none while answering.

        Runs on every read, so it only moves a deadline: the one timer handle is
        re-armed when it fires early, not cancelled and made anew each time.
        """
        if self._transport is None:
            return
        partial = self._request is not None or self._head_bytes > 0
        if partial and not self._stopped:
            delay = READ_TIMEOUT_S
        elif self._worker is None and not self._queue:
            delay = self._server.keep_alive_s
        else:
            self._deadline = None
            return
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + delay
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._deadline is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._timer = loop.call_at(self._deadline, self._on_timer)
        elif self._worker is None and not self._queue:
            self.close()

    @property
    def idle(self) -> bool:
        """No request in flight, queued, or partly received."""
        return (
            self._worker is None
            and not self._queue
            and self._request is None
            and self._head_bytes == 0
        )

    def close(self) -> None:
        """Close the connection (what was written is still sent)."""
        self._cancel_timer()
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection now (shutdown past its grace period)."""
        if self._transport is not None:
            self._transport.abort()
