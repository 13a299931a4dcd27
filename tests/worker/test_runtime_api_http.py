"""The Runtime API server speaks the HTTP that real runtime clients send.

curl (the shell tutorial's client) sends ``Expect: 100-continue`` for larger
bodies, libcurl-based clients may send chunked bodies, python's urllib sends
``Connection: close``, and a client may pipeline requests behind a parked
``/next``. Each runs here against the server on asyncio's loop and uvloop's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop

from roost.worker.runtime_api import Deliver, Invocation, RuntimeApiServer

NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rt\r\n\r\n"


class FakeEnvironment:
    """A RuntimeApiHandler that records what the runtime client sent."""

    def __init__(self) -> None:
        self.inbox: deque[Invocation] = deque()
        self.waiter: Deliver | None = None
        self.posted: list[tuple[str, str, bytes, str | None]] = []

    def event(self, request_id: str, payload: bytes = b"{}") -> None:
        self.inbox.append(
            Invocation(request_id, payload, 4102444800000, "arn:aws:lambda:fn", "Root=1-a-b")
        )
        self._hand_over()

    def _hand_over(self) -> None:
        if self.inbox and self.waiter is not None:
            waiter, self.waiter = self.waiter, None
            waiter(self.inbox.popleft())

    def wait_next(self, deliver: Deliver) -> None:
        self.waiter = deliver
        self._hand_over()

    def abandon_next(self, deliver: Deliver) -> None:
        if self.waiter == deliver:
            self.waiter = None

    def invocation_response(self, request_id: str, body: bytes) -> int:
        self.posted.append(("response", request_id, body, None))
        return 202

    def invocation_error(self, request_id: str, body: bytes, error_type: str | None) -> int:
        self.posted.append(("error", request_id, body, error_type))
        return 202

    def init_error(self, body: bytes, error_type: str | None) -> int:
        self.posted.append(("init", "", body, error_type))
        return 202

    def owns_peer(self, peer: tuple[str, int], local: tuple[str, int]) -> bool:
        return True


Scenario = Callable[[FakeEnvironment, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    """Run a scenario against a fresh server on the parametrised event loop."""
    factory: Any = uvloop.new_event_loop if request.param == "uvloop" else None

    def runner(scenario: Scenario) -> None:
        async def main() -> None:
            environment = FakeEnvironment()
            server = RuntimeApiServer(environment)
            await server.start()
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                await asyncio.wait_for(scenario(environment, reader, writer), 5)
            finally:
                writer.close()
                await server.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())

    return runner


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [
        f"POST /2018-06-01/runtime{path} HTTP/1.1",
        "Host: rt",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_expect_100_continue_gets_the_interim_reply(run: Callable[[Scenario], None]) -> None:
    body = b'"' + b"a" * 200_000 + b'"'

    async def scenario(
        env: FakeEnvironment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        env.event("r1")
        writer.write(NEXT)
        status, headers, _ = await read_response(reader)
        assert (status, headers["lambda-runtime-aws-request-id"]) == (200, "r1")

        request = post("/invocation/r1/response", body, "Expect: 100-continue")
        head, _, _ = request.partition(b"\r\n\r\n")
        writer.write(head + b"\r\n\r\n")
        # The client sends nothing more until the server says to go on.
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        status, _, _ = await read_response(reader)

        assert status == 202
        assert env.posted == [("response", "r1", body, None)]

    run(scenario)


def test_a_chunked_error_with_an_xray_cause_is_accepted(run: Callable[[Scenario], None]) -> None:
    async def scenario(
        env: FakeEnvironment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        env.event("r2")
        writer.write(NEXT)
        await read_response(reader)
        writer.write(
            b"POST /2018-06-01/runtime/invocation/r2/error HTTP/1.1\r\n"
            b"Host: rt\r\n"
            b"Transfer-Encoding: chunked\r\n"
            b"Lambda-Runtime-Function-Error-Type: ValueError\r\n"
            b'Lambda-Runtime-Function-XRay-Error-Cause: {"working_directory":"/var/task"}\r\n'
            b"\r\n"
            b'5\r\n{"err\r\n'
            b'f\r\norType":"ValueE\r\n'
            b'5\r\nrror"\r\n'
            b"1\r\n}\r\n"
            b"0\r\n\r\n"
        )
        status, _, _ = await read_response(reader)

        assert status == 202
        assert env.posted == [("error", "r2", b'{"errorType":"ValueError"}', "ValueError")]

    run(scenario)


def test_requests_pipelined_behind_a_parked_next_are_answered_in_order(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(
        env: FakeEnvironment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        env.event("r3")
        writer.write(NEXT)
        await read_response(reader)
        # The result and the next /next, in one write; then the next result,
        # whose Expect must wait for the parked /next to be answered.
        writer.write(post("/invocation/r3/response", b'"three"') + NEXT)
        # The result's 202 travels with the next event (the client waits for
        # both anyway): nothing arrives before that.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.05)
        assert env.posted == [("response", "r3", b'"three"', None)]
        writer.write(
            post("/invocation/r4/response", b'"four"', "Expect: 100-continue").partition(
                b"\r\n\r\n"
            )[0]
            + b"\r\n\r\n"
        )
        await asyncio.sleep(0.05)
        env.event("r4")
        status, _, _ = await read_response(reader)
        assert status == 202
        status, headers, _ = await read_response(reader)
        assert (status, headers["lambda-runtime-aws-request-id"]) == (200, "r4")
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b'"four"')
        status, _, _ = await read_response(reader)

        assert status == 202
        assert env.posted == [
            ("response", "r3", b'"three"', None),
            ("response", "r4", b'"four"', None),
        ]

    run(scenario)


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /2018-06-01/runtime/invocation/next HTTP/1.0\r\n\r\n",
    ],
    ids=["connection-close", "http-1.0"],
)
def test_a_request_without_keep_alive_is_answered_then_closed(
    run: Callable[[Scenario], None], request_line: bytes
) -> None:
    async def scenario(
        env: FakeEnvironment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        env.event("r5", b'{"k": 1}')
        writer.write(request_line)
        status, _, body = await read_response(reader)

        assert (status, body) == (200, b'{"k": 1}')
        # A client reading to end-of-stream (bash's /dev/tcp, say) finishes.
        assert await reader.read() == b""

    run(scenario)


def test_a_parked_next_whose_client_left_does_not_swallow_the_event(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(
        env: FakeEnvironment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(NEXT)
        await asyncio.sleep(0.05)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.05)
        env.event("r6")

        assert len(env.inbox) == 1

    run(scenario)
