"""``InvalidationBus``: a change made through one node reaches every node's function cache.

The talk's pushed invalidations. Each node's L1 cache (``FunctionCache``) never
reads the store for a warm invoke, so a change made through another node must
be pushed to it: after a control-plane write, the node that served it
publishes ``{node, account, function, reservations}`` on a Redis pub/sub
channel of the cluster, and every other node's subscriber forgets that
function (or, for an account-wide change, the account's functions).

Pub/sub delivers at most once, so a node whose subscription was down may
have missed changes: on every (re)subscribe it forgets every cached function
(the next invoke of each reads the store once). The worker endpoint also
re-reads a function when a frontend names a newer revision than it holds.
"""

from __future__ import annotations

import asyncio
import json
import logging

from roost.frontend.invoke.function_cache import FunctionCache
from roost.store.errors import StoreUnavailable
from roost.store.redis.connection import RedisConnection
from roost.store.redis.subscription import ChannelSubscription

log = logging.getLogger(__name__)


class InvalidationBus:
    """Publishes this node's invalidations and applies the other nodes'."""

    def __init__(self, connection: RedisConnection, node_id: str, cache: FunctionCache) -> None:
        self._connection = connection
        self._node_id = node_id
        self._cache = cache
        self._channel = connection.key("invalidations")
        self._subscription = ChannelSubscription(
            connection.client,
            self._channel,
            self._receive,
            cache.invalidate_all,
            name="function cache invalidations",
        )
        self._publishing: set[asyncio.Task[None]] = set()
        # Invalidations sent and applied since start, for tests and /metrics.
        self.sent = 0
        self.received = 0
        cache.broadcast_to(self.publish)

    async def start(self) -> None:
        """Subscribe (waiting a moment for it, so changes right after start are seen)."""
        await self._subscription.ready()

    def publish(self, account_id: str, name: str | None, reservations: bool) -> None:
        """Send one invalidation (in the background: the change is already stored)."""
        message = json.dumps(
            {"node": self._node_id, "account": account_id, "name": name, "res": reservations}
        )
        task = asyncio.get_running_loop().create_task(self._send(message))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _send(self, message: str) -> None:
        try:
            await self._connection.call(
                lambda: self._connection.client.publish(self._channel, message)
            )
            self.sent += 1
        except StoreUnavailable as error:
            # The other nodes' next resubscribe (or revision check) catches up.
            log.warning("could not publish a cache invalidation: %s", error)

    def _receive(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            if message["node"] == self._node_id:
                return
            account, name = str(message["account"]), message["name"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed cache invalidation: %r", data[:200])
            return
        self.received += 1
        self._cache.invalidate(
            account,
            str(name) if name is not None else None,
            reservations=bool(message.get("res", True)),
            received=True,
        )

    async def close(self) -> None:
        """Stop listening, finish publishing, close the connection."""
        await self._subscription.close()
        if self._publishing:
            await asyncio.gather(*self._publishing, return_exceptions=True)
        await self._connection.close()
