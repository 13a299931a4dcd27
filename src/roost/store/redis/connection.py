"""``RedisConnection``: one client per adapter, and Redis's failures as store errors.

Adapters call Redis through ``call``, which turns a lost or refused connection
(and a closed adapter) into ``StoreUnavailable``, the error every store port
raises when the caller may retry later. Acknowledged writes are only as durable
as the server's persistence: ``docs/cluster.md`` explains ``appendfsync``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as redis_asyncio
import redis.exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from roost.store.errors import StoreUnavailable

T = TypeVar("T")

DEFAULT_NAMESPACE = "roost"

# Errors after which the caller may retry: the server went away, refused us,
# is loading its data set after a restart, or answered too late.
_UNAVAILABLE = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.ReadOnlyError,
    OSError,
)


class RedisConnection:
    """A ``redis.asyncio`` client for one adapter, with a key namespace.

    ``key(*parts)`` builds ``namespace:part:part``; every adapter of one
    deployment shares the namespace, so two Roost clusters can share a Redis
    server under different namespaces.
    """

    def __init__(self, client: redis_asyncio.Redis, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.client = client
        self.namespace = namespace
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        timeout_s: float = 5.0,
        resend_on_reconnect: bool = False,
    ) -> RedisConnection:
        """A connection to ``url`` (``redis://host:port/db``); connects on first use."""
        retry_on = (redis_errors.ConnectionError,)
        client = redis_asyncio.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=30,
            # A pooled connection from before a Redis restart fails once on its
            # next use; with ``resend_on_reconnect`` it reconnects and sends the
            # command again. That is only for adapters whose writes may apply
            # twice (the queues: at-least-once). Others get no silent re-send:
            # a conditional write whose reply was lost could otherwise report
            # ConditionFailed for a change that did land.
            retry=Retry(NoBackoff(), 1 if resend_on_reconnect else 0, retry_on),
        )
        return cls(client, namespace)

    @classmethod
    async def open(cls, url: str, *, namespace: str = DEFAULT_NAMESPACE) -> RedisConnection:
        """A connection to ``url`` that answered a PING (``StoreUnavailable`` if not)."""
        connection = cls.from_url(url, namespace=namespace)
        try:
            await connection.call(connection.client.ping)
        except BaseException:
            await connection.close()
            raise
        return connection

    def key(self, *parts: str) -> str:
        """The namespaced Redis key made of ``parts``."""
        return ":".join((self.namespace, *parts))

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation``; Redis being unreachable (or us closed) is ``StoreUnavailable``."""
        if self._closed:
            raise StoreUnavailable("the Redis store is closed")
        try:
            return await operation()
        except _UNAVAILABLE as error:
            raise StoreUnavailable(f"Redis is unavailable: {error}") from error

    def script(self, source: str) -> Callable[..., Awaitable[Any]]:
        """A Lua script registered on this client (loaded by SHA, re-sent when missing)."""
        registered = self.client.register_script(source)

        async def run(keys: list[str], args: list[Any]) -> Any:
            return await self.call(lambda: registered(keys=keys, args=args))

        return run

    async def close(self) -> None:
        """Close the client; later calls raise ``StoreUnavailable``."""
        if self._closed:
            return
        self._closed = True
        await self.client.aclose()
