"""``ChannelSubscription``: one Redis pub/sub channel, kept subscribed across reconnects.

Pub/sub delivers at most once: a message published while the subscription is
down (a reconnect, Redis restarting) is gone for good. So every (re)subscribe
calls ``on_subscribed``, and each user decides what "I may have missed
something" means for it (the queue wake-ups wake every poll; the cache
invalidations forget every cached function).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio as redis_asyncio
import redis.exceptions as redis_errors

from roost.cancellation import cancel_and_wait, within

log = logging.getLogger(__name__)

# How long a caller of ``ready`` waits for the subscription at most.
SUBSCRIBE_WAIT_S = 1.0
# Between attempts to subscribe again while Redis is unreachable.
RESUBSCRIBE_DELAY_S = 0.2
# How long one read of the subscription blocks (also how often it checks health).
_READ_TIMEOUT_S = 1.0


class ChannelSubscription:
    """Calls ``on_message`` with each message's data, re-subscribing after failures."""

    def __init__(
        self,
        client: redis_asyncio.Redis,
        channel: str,
        on_message: Callable[[bytes], None],
        on_subscribed: Callable[[], None],
        *,
        name: str = "subscription",
    ) -> None:
        self._client = client
        self._channel = channel
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._name = name
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start listening (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen())

    async def ready(self, timeout_s: float = SUBSCRIBE_WAIT_S) -> None:
        """Start listening if not yet, and wait up to ``timeout_s`` until subscribed."""
        if self._subscribed.is_set():
            return
        self.start()
        with contextlib.suppress(TimeoutError):
            await within(self._subscribed.wait(), min(timeout_s, SUBSCRIBE_WAIT_S))

    async def close(self) -> None:
        """Stop listening."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    async def _listen(self) -> None:
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while True:
                    message = await pubsub.get_message(timeout=_READ_TIMEOUT_S)
                    if message is not None:
                        self._deliver(message)
            except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
                log.debug("%s lost its subscription: %r", self._name, error)
            except Exception:
                # Not expected, but users must not lose their messages for good.
                log.exception("%s failed; subscribing again", self._name)
            finally:
                self._subscribed.clear()
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    def _deliver(self, message: dict[str, object]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            self._subscribed.set()
            self._on_subscribed()
        elif kind == "message":
            data = message.get("data")
            if isinstance(data, bytes):
                self._on_message(data)
