"""The AWS API's requests straight from ASGI, without a framework in between.

Every invoke passes through here, so the request is read from the ASGI scope
and ``receive`` directly and the response written with two ``send`` calls:
routing and request objects of a framework cost more CPU than a warm invoke's
own work. Roost's own endpoints (``/_roost/...``) still go through Starlette.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    """The body is longer than the operation allows."""


@dataclass(frozen=True)
class HttpRequest:
    """What the AWS path needs of a request: raw path and query, headers, body reader."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]
    base_url: str
    receive: Receive

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> HttpRequest:
        """Decode the ASGI scope (headers lowercased, values latin-1)."""
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        raw_path = scope.get("raw_path") or scope["path"].encode()
        host = headers.get("host")
        if host is None:
            server = scope.get("server") or ("localhost", 80)
            host = f"{server[0]}:{server[1]}"
        return cls(
            method=scope["method"],
            raw_path=raw_path.decode("latin-1").partition("?")[0],
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            base_url=f"{scope.get('scheme', 'http')}://{host}",
            receive=receive,
        )

    async def body(self, limit: int) -> bytes:
        """The whole body; ``BodyTooLarge`` as soon as it passes ``limit`` bytes."""
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


async def respond(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    """Write a complete response (always with Content-Length)."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
