"""The front door's HTTP/1.1 server: httptools' parser on the asyncio loop, no framework.

An ASGI server turns each request into a scope, a task with ``receive`` and
``send`` coroutines, and writes a response in two system calls (head, then
body); on a warm invoke that is a tenth of the server's CPU and one extra wake-up
of the client. This server hands the application a whole ``HttpRequest`` and
writes each ``HttpResponse`` with one write. What it keeps of HTTP/1.1:

- keep-alive (closed after ``keep_alive_s`` idle), ``Connection: close`` and HTTP/1.0;
- pipelining: requests on one connection are answered in order, one at a time;
  reading pauses while too many wait;
- ``Expect: 100-continue`` (answered once the request is next in line);
- chunked request bodies (decoded by the parser);
- body limits per request, from the application, checked against the declared
  length before the body is read and while it streams; an oversize request is
  answered (by the application's ``too_large``) and the connection closed;
- a cap on the size of a request's head, malformed requests answered 400;
- graceful shutdown: stop accepting, close idle connections, let requests in
  flight finish within a grace period, then drop what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import logging
import socket
import time
from collections import deque
from typing import cast

import httptools

from roost.frontend.http import HttpApp, HttpRequest, HttpResponse

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 5.0
# Beyond this many bytes of request line and headers a request is refused.
MAX_HEAD_BYTES = 64 * 1024
# Pipelined requests waiting on one connection before it stops reading.
MAX_QUEUED = 16

_REASONS = {status.value: status.phrase for status in http.HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Clock:
    """The ``Date`` header, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def date(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = email.utils.formatdate(now, usegmt=True)
        return self._value


def _plain(status: int, text: str) -> HttpResponse:
    return HttpResponse(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})


class _Connection(asyncio.Protocol):
    """One client connection: parse, queue, answer in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._app = server.app
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        # The request being parsed (None between requests, or once refused).
        self._request: HttpRequest | None = None
        self._url = b""
        self._head_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._limit = 0
        self._continue_owed = False
        # Parsing stopped for good (a refused or malformed request).
        self._stopped = False
        self._queue: deque[tuple[HttpRequest, bool, bool]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
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
        self._arm_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None
        self._cancel_idle_timer()
        self._queue.clear()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._server.connection_closed()

    def data_received(self, data: bytes) -> None:
        if self._stopped:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(_plain(400, "Protocol upgrades are not supported."))
        except httptools.HttpParserError:
            self._refuse(_plain(400, "Malformed HTTP request."))

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._cancel_idle_timer()
        self._url = b""
        self._head_bytes = 0
        self._body = []
        self._body_size = 0
        self._request = HttpRequest("", "", "", {})

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self._request
        if request is None or not self._count_head(len(name) + len(value)):
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = request.headers
        headers[key] = f"{headers[key]},{text}" if key in headers else text

    def on_headers_complete(self) -> None:
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
        request = self._request
        if request is None:
            return
        self._request = None
        request.body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        self._enqueue(request, self._parser.should_keep_alive(), False)

    # Refusals

    def _count_head(self, size: int) -> bool:
        self._head_bytes += size
        if self._head_bytes <= MAX_HEAD_BYTES:
            return True
        self._refuse(_plain(431, "The request's headers are too large."))
        return False

    def _refuse_oversize(self, request: HttpRequest) -> None:
        """Answer an oversize request in its turn, then close: its body is not read."""
        self._request = None
        self._stop_reading()
        self._enqueue(request, False, True)

    def _refuse(self, response: HttpResponse) -> None:
        """Answer a request that cannot be parsed (after those before it), then close."""
        self._request = None
        self._stop_reading()
        self._enqueue(HttpRequest("", "", "", {}, route=response), False, True)

    def _stop_reading(self) -> None:
        self._stopped = True
        if self._transport is not None and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    # Answering

    def _enqueue(self, request: HttpRequest, keep_alive: bool, refused: bool) -> None:
        self._queue.append((request, keep_alive, refused))
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        if len(self._queue) > MAX_QUEUED and not self._reading_paused:
            self._reading_paused = True
            assert self._transport is not None
            self._transport.pause_reading()

    async def _work(self) -> None:
        try:
            while self._queue and self._transport is not None:
                request, keep_alive, refused = self._queue.popleft()
                response = await self._answer(request, refused)
                keep_alive = keep_alive and not self._server.closing
                if self._writable is not None:
                    await self._writable
                self._write(_encode(response, keep_alive, self._server.clock.date()))
                if not keep_alive:
                    self.close()
                    return
                self._resume_reading()
        finally:
            self._worker = None
        if self._continue_owed and self._request is not None:
            self._continue_owed = False
            self._write(_CONTINUE)
        if self._request is None:
            self._arm_idle_timer()

    async def _answer(self, request: HttpRequest, refused: bool) -> HttpResponse:
        if refused:
            if isinstance(request.route, HttpResponse):
                return request.route
            return self._app.too_large(request)
        try:
            return await self._app.handle(request)
        except Exception:
            log.exception("unhandled error answering %s %s", request.method, request.raw_path)
            return _plain(500, "Internal Server Error")

    def _resume_reading(self) -> None:
        if self._reading_paused and not self._stopped and len(self._queue) <= MAX_QUEUED // 2:
            self._reading_paused = False
            if self._transport is not None:
                self._transport.resume_reading()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    # Idle connections

    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        if self._transport is not None:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(self._server.keep_alive_s, self._on_idle)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _on_idle(self) -> None:
        self._idle_timer = None
        if self.idle:
            self.close()

    @property
    def idle(self) -> bool:
        """No request in flight, queued, or partly received."""
        return self._worker is None and not self._queue and self._request is None

    def close(self) -> None:
        """Close the connection (what was written is still sent)."""
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection now (shutdown past its grace period)."""
        if self._transport is not None:
            self._transport.abort()
        if self._worker is not None:
            self._worker.cancel()


def _encode(response: HttpResponse, keep_alive: bool, date: str) -> bytes:
    """Status line, headers and body as one buffer (always with Content-Length)."""
    status = response.status
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    lines.append(f"Content-Length: {len(response.body)}")
    lines.append(f"Date: {date}")
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + response.body


class HttpServer:
    """Serves an ``HttpApp`` on a TCP address until ``shutdown``."""

    def __init__(self, app: HttpApp, host: str, port: int, keep_alive_s: float = KEEP_ALIVE_S):
        self.app = app
        self.host = host
        self.port = port
        self.keep_alive_s = keep_alive_s
        self.clock = _Clock()
        self.connections: set[_Connection] = set()
        self.closing = False
        self._server: asyncio.AbstractServer | None = None
        self._all_closed = asyncio.Event()

    async def start(self) -> None:
        """Listen (``port`` 0 picks a free port, then ``port`` says which)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def connection_closed(self) -> None:
        """A connection went away (shutdown waits for the last one)."""
        if not self.connections:
            self._all_closed.set()

    def abort(self) -> None:
        """Drop every connection now, requests in flight included."""
        for connection in list(self.connections):
            connection.abort()

    async def shutdown(self, grace_s: float) -> None:
        """Stop accepting, close idle connections, wait up to ``grace_s`` for the rest."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            if connection.idle:
                connection.close()
        if self.connections:
            self._all_closed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), grace_s)
        if self.connections:
            log.warning("dropping %d busy connections after shutdown", len(self.connections))
            self.abort()
        # Let the transports' close callbacks run before the loop goes away.
        await asyncio.sleep(0)
