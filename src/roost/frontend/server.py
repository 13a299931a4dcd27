"""The front door's HTTP/1.1 server: httptools' parser on the asyncio loop, no framework.

An ASGI server turns each request into a scope, a task with ``receive`` and
``send`` coroutines, and writes a response in two system calls (head, then
body); on a warm invoke that is a tenth of the server's CPU and one extra wake-up
of the client. This server (``HttpServer`` here, each connection an
``HttpConnection`` of ``connection.py``) hands the application a whole ``HttpRequest`` and
writes each ``HttpResponse`` with one write. What it keeps of HTTP/1.1:

- keep-alive (closed after ``keep_alive_s`` idle), ``Connection: close`` and HTTP/1.0;
- pipelining: requests on one connection are answered in order, one at a time;
  reading pauses while one waits;
- ``Expect: 100-continue`` (answered once the request is next in line);
- chunked request bodies (decoded by the parser);
- body limits per request, from the application, checked against the declared
  length before the body is read and while it streams; an oversize request is
  answered (by the application's ``too_large``) and the connection closed after
  a short linger;
- a cap on the size of a request's head, a read timeout inside a request,
  malformed requests answered 400;
- graceful shutdown: stop accepting, close idle connections, let requests in
  flight finish within a grace period, then drop what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
from collections.abc import Coroutine
from typing import Any

from roost.cancellation import within
from roost.frontend.connection import HttpConnection
from roost.frontend.http import HttpApp

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 5.0


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


class HttpServer:
    """Serves an ``HttpApp`` on a TCP address until ``shutdown``."""

    def __init__(self, app: HttpApp, host: str, port: int, keep_alive_s: float = KEEP_ALIVE_S):
        self.app = app
        self.host = host
        self.port = port
        self.keep_alive_s = keep_alive_s
        self.clock = _Clock()
        self.connections: set[HttpConnection] = set()
        self._workers: set[asyncio.Task[None]] = set()
        self.closing = False
        self._server: asyncio.AbstractServer | None = None
        self._all_closed = asyncio.Event()

    async def start(self) -> None:
        """Listen (``port`` 0 picks a free port, then ``port`` says which)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self), self.host, self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def start_worker(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run a connection's answering task (shutdown waits for it, even if its
        client went away)."""
        task = asyncio.get_running_loop().create_task(work)
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)
        return task

    def connection_closed(self) -> None:
        """A connection went away (shutdown waits for the last one)."""
        if not self.connections:
            self._all_closed.set()

    def abort(self) -> None:
        """Drop every connection now, requests in flight included."""
        for connection in list(self.connections):
            connection.abort()
        for task in list(self._workers):
            task.cancel()

    async def shutdown(self, grace_s: float) -> None:
        """Stop accepting, close idle connections, wait up to ``grace_s`` for requests
        in flight (those of clients that left included), then drop what is left."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            if connection.idle:
                connection.close()
        deadline = time.monotonic() + grace_s
        if self.connections:
            self._all_closed.clear()
            with contextlib.suppress(TimeoutError):
                await within(self._all_closed.wait(), grace_s)
        if self._workers:
            await asyncio.wait(set(self._workers), timeout=max(0.0, deadline - time.monotonic()))
        if self.connections or self._workers:
            log.warning(
                "dropping %d connections and %d requests still busy after shutdown",
                len(self.connections),
                len(self._workers),
            )
            self.abort()
        # Let the transports' close callbacks and cancellations run before the loop goes.
        await asyncio.sleep(0)
