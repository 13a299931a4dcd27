"""Many concurrent senders of already signed HTTP requests on one asyncio loop.

Each sender is a keep-alive HTTP/1.1 connection that sends one request, reads the whole
response, then sends the next. The requests are raw bytes built (and SigV4-signed) before
the clock starts, so the client spends its time on sockets, not on botocore; that keeps the
client's share of the 2 cores small and the same for every event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def raw_request(path: str, headers: dict[str, str], body: bytes) -> bytes:
    """One HTTP/1.1 POST as bytes (``headers`` as signed, plus Content-Length)."""
    lines = [f"POST {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


@dataclass
class Sent:
    """What the senders saw, per request index: wall time sent, ack seconds and status."""

    start_s: list[float] = field(default_factory=list)
    ack_s: list[float] = field(default_factory=list)
    ack_wall_s: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)

    @classmethod
    def sized(cls, n: int) -> Sent:
        return cls([0.0] * n, [0.0] * n, [0.0] * n, [0] * n)


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length framed, as uvicorn sends it); its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def send_all(host: str, port: int, requests: list[bytes], senders: int) -> Sent:
    """Send every request once from ``senders`` connections, as fast as acks come back."""
    sent = Sent.sized(len(requests))
    next_index = iter(range(len(requests)))

    async def sender() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for index in next_index:  # a shared iterator: each index goes to one sender
                sent.start_s[index] = time.time()
                started = time.perf_counter()
                writer.write(requests[index])
                sent.status[index] = await _read_response(reader)
                sent.ack_s[index] = time.perf_counter() - started
                sent.ack_wall_s[index] = time.time()
        finally:
            writer.close()

    await asyncio.gather(*(sender() for _ in range(senders)))
    return sent


async def flood(
    host: str, port: int, request: bytes, senders: int, keep_going: Callable[[], bool]
) -> dict[int, int]:
    """Send ``request`` again and again from ``senders`` connections while ``keep_going()``;
    the responses counted by status."""
    statuses: dict[int, int] = {}

    async def sender() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while keep_going():
                writer.write(request)
                status = await _read_response(reader)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(sender() for _ in range(senders)))
    return statuses
