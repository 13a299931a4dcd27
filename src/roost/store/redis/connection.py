"""``RedisConnection``: one client per adapter, and Redis's failures as store errors.

Adapters call Redis through ``call``, which turns a lost or refused connection
(and a closed adapter) into ``StoreUnavailable``, the error every store port
raises when the caller may retry later. Acknowledged writes are only as durable
as the server's persistence: ``docs/cluster.md`` explains ``appendfsync``.

The URL is one server (``redis://``, ``rediss://``, ``unix://``) or a Sentinel
deployment (``redis+sentinel://``, ``sentinel.py``); either may ask for
replica acknowledgements (``?wait_replicas=N``, ``replica_acks.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as redis_asyncio
import redis.exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import NoBackoff

from roost.store.errors import StoreUnavailable
from roost.store.redis.replica_acks import ReplicaAcks, take_replica_acks
from roost.store.redis.sentinel import is_sentinel_url, parse_sentinel_url, sentinel_client

T = TypeVar("T")

DEFAULT_NAMESPACE = "roost"

# Errors after which the caller may retry: the server went away, refused us,
# is loading its data set after a restart, or answered too late; or, through
# Sentinel, no primary is known (mid-failover) or ours was just demoted.
_UNAVAILABLE = (
    MasterNotFoundError,
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
    server under different namespaces. With ``replica_acks`` every script
    call waits for that many replicas to confirm it; ``sentinel`` is the
    Sentinel client a Sentinel-managed ``client`` asks, closed with it.
    """

    def __init__(
        self,
        client: redis_asyncio.Redis,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        replica_acks: ReplicaAcks | None = None,
        sentinel: Sentinel | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.replica_acks = replica_acks
        self._sentinel = sentinel
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        timeout_s: float = 5.0,
        resend_on_reconnect: bool = False,
        wait_for_replicas: bool = True,
    ) -> RedisConnection:
        """A connection to ``url``; connects on first use.

        ``url`` is ``redis://host:port/db`` (or ``rediss://``, ``unix://``) or
        ``redis+sentinel://host:port,host:port/service/db``, with an optional
        ``wait_replicas``/``wait_timeout_ms`` query that ``wait_for_replicas=False``
        ignores (for data that needs no durability, such as counter leases).
        """
        url, acks = take_replica_acks(url)
        if acks is not None and acks.timeout_ms >= timeout_s * 1000:
            # The socket would time out first and turn every slow WAIT into an error.
            raise ValueError(f"wait_timeout_ms must be below the {timeout_s} s socket timeout")
        retry_on = (redis_errors.ConnectionError,)
        options: dict[str, Any] = {
            "health_check_interval": 30,
            # A pooled connection from before a Redis restart (or a failover)
            # fails once on its next use; with ``resend_on_reconnect`` it
            # reconnects and sends the command again. That is only for adapters
            # whose writes may apply twice (the queues: at-least-once). Others
            # get no silent re-send: a conditional write whose reply was lost
            # could otherwise report ConditionFailed for a change that did land.
            "retry": Retry(NoBackoff(), 1 if resend_on_reconnect else 0, retry_on),
        }
        sentinel: Sentinel | None = None
        if is_sentinel_url(url):
            client, sentinel = sentinel_client(
                parse_sentinel_url(url), timeout_s=timeout_s, **options
            )
        else:
            client = redis_asyncio.Redis.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, **options
            )
        return cls(
            client,
            namespace,
            replica_acks=acks if wait_for_replicas else None,
            sentinel=sentinel,
        )

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

    def script(self, source: str, *, read_only: bool = False) -> Callable[..., Awaitable[Any]]:
        """A Lua script registered on this client (loaded by SHA, re-sent when missing).

        A ``read_only`` script never waits for replicas: it has nothing to
        replicate, and reads should keep working while replicas are missing.
        """
        registered = self.client.register_script(source)
        acks = None if read_only else self.replica_acks

        async def run(keys: list[str], args: list[Any]) -> Any:
            if acks is not None:
                return await self.call(lambda: acks.run(self.client, registered, keys, args))
            return await self.call(lambda: registered(keys=keys, args=args))

        return run

    async def close(self) -> None:
        """Close the client; later calls raise ``StoreUnavailable``."""
        if self._closed:
            return
        self._closed = True
        await self.client.aclose()
        if self._sentinel is not None:
            await self._sentinel.aclose()
