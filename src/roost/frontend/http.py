"""What the front door's HTTP server and the application exchange: requests and responses.

Every invoke passes through here, so a request is a plain record of what arrived
(raw path and query, headers lowercased, the whole body) and a response is status,
headers and body written in one go: the objects and calls of a framework cost
more CPU than a warm invoke's own work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class HttpRequest:
    """One request as received.

    ``headers`` are keyed by lowercased name (values latin-1 decoded, repeated
    headers joined with ``,``); ``raw_path`` is still percent-encoded and has no
    query; ``route`` is the application's to fill in ``body_limit`` and read in
    ``handle`` (so it matches a request to its operation once).
    """

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes = b""
    route: Any = None

    @property
    def base_url(self) -> str:
        """``http://host[:port]`` as the client addressed the server."""
        return f"http://{self.headers.get('host', 'localhost')}"


@dataclass(slots=True)
class HttpResponse:
    """A complete response; the server adds Content-Length, Date and Connection."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class HttpApp(Protocol):
    """The application the server runs."""

    def body_limit(self, request: HttpRequest) -> int:
        """The most body bytes ``request`` (headers only, so far) may carry."""

    def too_large(self, request: HttpRequest) -> HttpResponse:
        """The answer to a request whose body is over its limit."""

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer a complete request (errors included: it should not raise)."""
