"""The front door's HTTP/1.1 server over real sockets, with a small application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from roost.frontend import connection
from roost.frontend.connection import MAX_HEAD_BYTES
from roost.frontend.http import HttpRequest, HttpResponse
from roost.frontend.server import HttpServer

LIMIT = 1000


class EchoApp:
    """Answers with what it received; ``/slow`` waits, ``/boom`` raises."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.done: list[str] = []
        self.release = asyncio.Event()

    def body_limit(self, request: HttpRequest) -> int:
        return LIMIT

    def too_large(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(413, b"too large: " + request.raw_path.encode())

    async def handle(self, request: HttpRequest) -> HttpResponse:
        self.seen.append(request.raw_path)
        if request.raw_path == "/slow":
            await self.release.wait()
        if request.raw_path == "/boom":
            raise RuntimeError("boom")
        self.done.append(request.raw_path)
        text = f"{request.method} {request.raw_path}?{request.raw_query} {request.base_url} "
        return HttpResponse(200, text.encode() + request.body, {"X-Seen": str(len(self.seen))})


Reply = tuple[int, dict[str, str], bytes]
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[], Awaitable[Streams]]
Scenario = Callable[[EchoApp, HttpServer, Connect], Awaitable[None]]


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def request(path: str, body: bytes = b"", extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: example:9\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    def runner(scenario: Scenario) -> None:
        async def main() -> None:
            app = EchoApp()
            server = HttpServer(app, "127.0.0.1", 0, keep_alive_s=0.3)
            await server.start()

            writers: list[asyncio.StreamWriter] = []

            async def connect() -> Streams:
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writers.append(writer)
                return reader, writer

            try:
                await asyncio.wait_for(scenario(app, server, connect), 10)
            finally:
                app.release.set()
                await server.shutdown(1)
                for writer in writers:
                    writer.close()
                    with contextlib.suppress(ConnectionError):
                        await writer.wait_closed()

        if request.param == "uvloop":
            uvloop.run(main())
        else:
            asyncio.run(main())

    return runner


def test_keep_alive_answers_requests_one_after_the_other(run: Callable[[Scenario], None]) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        for index in range(3):
            writer.write(request(f"/p{index}?q=1", b"body"))
            status, headers, body = await read_reply(reader)
            assert status == 200
            assert body == f"POST /p{index}?q=1 http://example:9 body".encode()
            assert "date" in headers
            assert "connection" not in headers

    run(scenario)


def test_pipelined_requests_are_answered_in_order(run: Callable[[Scenario], None]) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(request("/slow") + request("/fast"))
        await asyncio.sleep(0.05)
        # The second waits for the first, which waits for its release.
        assert app.seen == ["/slow"]
        app.release.set()
        first = await read_reply(reader)
        second = await read_reply(reader)
        assert first[2].startswith(b"POST /slow") and second[2].startswith(b"POST /fast")

    run(scenario)


def test_expect_100_continue_is_answered_before_the_body(run: Callable[[Scenario], None]) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(request("/e", b"", "Expect: 100-continue\r\n").replace(b"0\r\n", b"4\r\n"))
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"data")
        status, _, body = await read_reply(reader)
        assert (status, body) == (200, b"POST /e? http://example:9 data")

    run(scenario)


def test_a_chunked_body_arrives_decoded(run: Callable[[Scenario], None]) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(
            b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )
        status, _, body = await read_reply(reader)
        assert (status, body) == (200, b"POST /c? http://h abcde")

    run(scenario)


def test_a_declared_oversize_body_is_refused_unread_and_the_connection_closed(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n")
        status, headers, body = await read_reply(reader)
        assert (status, body, headers["connection"]) == (413, b"too large: /big", "close")
        assert await reader.read() == b""
        assert app.seen == []

    run(scenario)


def test_a_streamed_oversize_body_is_refused(run: Callable[[Scenario], None]) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        chunk = b"100\r\n" + b"x" * 256 + b"\r\n"
        writer.write(b"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(chunk * 5)
        status, _, body = await read_reply(reader)
        assert (status, body) == (413, b"too large: /s")
        assert await reader.read() == b""
        assert app.seen == []

    run(scenario)


@pytest.mark.parametrize(
    "raw",
    [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n"],
    ids=["garbage", "bad-length"],
)
def test_a_malformed_request_gets_400_and_the_connection_closes(
    run: Callable[[Scenario], None], raw: bytes
) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(raw)
        status, headers, _ = await read_reply(reader)
        assert (status, headers["connection"]) == (400, "close")
        assert await reader.read() == b""

    run(scenario)


def test_a_request_head_over_the_cap_is_refused(run: Callable[[Scenario], None]) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(request("/h", b"", f"X-Big: {'a' * MAX_HEAD_BYTES}\r\n"))
        status, _, _ = await read_reply(reader)
        assert status == 431
        assert app.seen == []

    run(scenario)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        b"GET /x HTTP/1.0\r\nHost: h\r\n\r\n",
    ],
    ids=["connection-close", "http-1.0"],
)
def test_without_keep_alive_the_answer_closes_the_connection(
    run: Callable[[Scenario], None], raw: bytes
) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(raw)
        status, headers, _ = await read_reply(reader)
        assert (status, headers["connection"]) == (200, "close")
        assert await reader.read() == b""

    run(scenario)


def test_an_idle_connection_is_closed_after_the_keep_alive(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(request("/a"))
        await read_reply(reader)
        assert await asyncio.wait_for(reader.read(), 2) == b""

    run(scenario)


def test_an_application_error_is_a_500_and_the_connection_lives_on(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(request("/boom") + request("/after"))
        assert (await read_reply(reader))[0] == 500
        assert (await read_reply(reader))[0] == 200

    run(scenario)


def test_a_client_leaving_mid_request_does_not_disturb_others(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        _, gone = await connect()
        gone.write(request("/slow"))
        await asyncio.sleep(0.05)
        gone.close()
        await asyncio.sleep(0.05)
        app.release.set()
        reader, writer = await connect()
        writer.write(request("/next"))
        assert (await read_reply(reader))[0] == 200

    run(scenario)


def test_shutdown_finishes_requests_in_flight_and_closes_idle_connections(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        busy_reader, busy_writer = await connect()
        idle_reader, _ = await connect()
        busy_writer.write(request("/slow"))
        await asyncio.sleep(0.05)
        stopping = asyncio.create_task(server.shutdown(5))
        assert await asyncio.wait_for(idle_reader.read(), 2) == b""
        with pytest.raises(OSError):
            await connect()
        app.release.set()
        status, headers, _ = await read_reply(busy_reader)
        assert (status, headers["connection"]) == (200, "close")
        await stopping

    run(scenario)


def test_a_head_growing_past_the_cap_in_pieces_is_refused(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(b"POST /h HTTP/1.1\r\nHost: h\r\nX-Big: ")
        for _ in range(MAX_HEAD_BYTES // 4096 + 2):
            writer.write(b"a" * 4096)
            await asyncio.sleep(0)
        status, _, _ = await read_reply(reader)
        assert status == 431
        assert app.seen == []

    run(scenario)


def test_a_request_that_stops_arriving_is_dropped(
    run: Callable[[Scenario], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "READ_TIMEOUT_S", 0.2)

    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        assert await asyncio.wait_for(reader.read(), 2) == b""
        assert app.seen == []

    run(scenario)


def test_an_oversize_answer_survives_a_client_still_sending(
    run: Callable[[Scenario], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "LINGER_S", 0.2)

    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n")
        writer.write(b"x" * 3000)
        status, _, body = await read_reply(reader)
        writer.write(b"x" * 2000)  # The rest of the body: dropped, not a reset.
        await writer.drain()
        assert (status, body) == (413, b"too large: /big")
        assert await asyncio.wait_for(reader.read(), 2) == b""

    run(scenario)


def test_head_answers_carry_no_body(run: Callable[[Scenario], None]) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        reader, writer = await connect()
        writer.write(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n" + request("/after"))
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"Content-Length: " in head
        status, _, body = await read_reply(reader)
        assert (status, body[:11]) == (200, b"POST /after")

    run(scenario)


def test_shutdown_waits_for_a_request_whose_client_left(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(app: EchoApp, server: HttpServer, connect: Connect) -> None:
        _, writer = await connect()
        writer.write(request("/slow"))
        await asyncio.sleep(0.05)
        writer.close()
        await asyncio.sleep(0.05)
        stopping = asyncio.create_task(server.shutdown(5))
        await asyncio.sleep(0.1)
        assert not stopping.done()
        app.release.set()
        await stopping
        assert app.done == ["/slow"]

    run(scenario)
