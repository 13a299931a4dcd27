"""Store URLs naming a Redis Sentinel deployment, and the client built from one.

``redis+sentinel://[[user]:password@]host1[:port1],host2[:port2]/<service>[/<db>]``
names the Sentinels (port 26379 when left out) and the service they monitor
(``sentinel monitor <service> ...``); ``user``/``password`` are the data
nodes' credentials, and ``?sentinel_password=...`` the Sentinels' own, if
they ask for one. The client asks the Sentinels where the primary is before
each new connection, so after a failover the same client finds the promoted
replica by itself; until then its calls fail (``StoreUnavailable`` through
``RedisConnection``) rather than wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import redis.asyncio as redis_asyncio
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelUrl:
    """The parts of a ``redis+sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` names a Sentinel deployment rather than one server."""
    return url.startswith(f"{SENTINEL_SCHEME}://")


def parse_sentinel_url(url: str) -> SentinelUrl:
    """The Sentinels, service, db and credentials of ``url``; ``ValueError`` if malformed."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL: {url!r}")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, password = _credentials(userinfo)
    sentinels = tuple(_address(entry) for entry in hosts.split(","))
    segments = [segment for segment in parts.path.split("/") if segment]
    if not segments or len(segments) > 2:
        raise ValueError(f"{url!r} must end in /<service name>[/<db>]")
    try:
        db = int(segments[1]) if len(segments) == 2 else 0
    except ValueError:
        raise ValueError(f"the db of {url!r} must be a number") from None
    options = dict(parse_qsl(parts.query))
    unknown = set(options) - {"sentinel_password"}
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} in {url!r}")
    return SentinelUrl(
        sentinels,
        unquote(segments[0]),
        db,
        username,
        password,
        options.get("sentinel_password"),
    )


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, has_password, password = userinfo.partition(":")
    return unquote(user) or None, unquote(password) if has_password else None


def _address(entry: str) -> tuple[str, int]:
    """``host[:port]`` (``[v6]:port`` for IPv6) as a pair; the Sentinel port by default."""
    entry = entry.strip()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
    else:
        host, port_text = entry, ""
    if not host:
        raise ValueError(f"a Sentinel address is empty in {entry!r}")
    try:
        return host, int(port_text) if port_text else DEFAULT_SENTINEL_PORT
    except ValueError:
        raise ValueError(f"bad Sentinel port in {entry!r}") from None


def sentinel_client(
    url: SentinelUrl, *, timeout_s: float, **connection_options: Any
) -> tuple[redis_asyncio.Redis, Sentinel]:
    """A client of ``url``'s primary, and the ``Sentinel`` it asks (close both).

    ``connection_options`` (timeouts, retry policy, ...) apply to the data
    nodes' connections, as for a ``redis://`` URL.
    """
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(url.sentinels),
        # Asking the Sentinels must not stall a call either: one short attempt
        # per Sentinel (redis-py's default retries with backoff), then the next.
        sentinel_kwargs={
            "socket_timeout": timeout_s,
            "socket_connect_timeout": timeout_s,
            "retry": Retry(NoBackoff(), 0),
            "password": url.sentinel_password,
        },
    )
    client = sentinel.master_for(
        url.service,
        db=url.db,
        username=url.username,
        password=url.password,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        **connection_options,
    )
    return client, sentinel
