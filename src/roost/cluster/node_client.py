"""``NodeClient``: the HTTP client one node uses to send invokes to another.

Every invoke a frontend cannot run itself crosses this client, so its CPU per
request is the hop's cost. aiohttp (its HTTP parser is C, its connection pool
keeps connections alive per host) cut the servers' CPU per forwarded invoke
from 4.25 ms with httpx to 0.81 ms here (docs/dependencies.md).

Failures are told apart by whether the request can have reached the other
node: ``HostUnreachable`` (the connection was refused or timed out before
anything was sent: safe to try another host) or ``HopFailed`` (it broke after
the request went out: the invoke may have run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

CONNECT_TIMEOUT_S = 2.0


class HostUnreachable(Exception):
    """No connection could be made: the request was not sent."""


class HopFailed(Exception):
    """The exchange failed after the request was (or may have been) sent."""


@dataclass(frozen=True)
class NodeResponse:
    """Status, headers (case-insensitive) and body of another node's answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class NodeClient:
    """Keep-alive connections to the cluster's other nodes."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use: a session must be created inside the running loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> NodeResponse:
        """POST ``body`` to ``url``; the answer, whatever its status."""
        timeout = aiohttp.ClientTimeout(total=timeout_s, connect=CONNECT_TIMEOUT_S)
        try:
            async with self._open().post(
                url, data=body, headers=dict(headers), timeout=timeout
            ) as response:
                content = await response.read()
                return NodeResponse(response.status, response.headers, content)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            raise HostUnreachable(str(error)) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise HopFailed(f"{type(error).__name__}: {error}") from error

    async def close(self) -> None:
        """Close every connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None
