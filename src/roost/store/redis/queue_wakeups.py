"""Wake-ups of long polls across nodes: a Redis pub/sub channel of queue names.

Every send that makes a message visible at once (and every visibility change to
"now") publishes the queue's name on one channel, from inside its script, so
the notice leaves Redis right after the write. Each node's ``WakeListener``
subscribes from its first long poll on and turns a notice into
``QueueSignals.notify``, which wakes that node's polls of the queue.

Pub/sub delivers at most once: a notice published while the subscription is
down (a reconnect, Redis restarting) is gone. So a listener that (re)subscribes
wakes every poll to look again, and ``RedisQueueStore`` never lets a poll sleep
longer than ``RECHECK_S`` without asking Redis: a lost notice costs at most that
much delay, never a message.
"""

from __future__ import annotations

import redis.asyncio as redis_asyncio

from roost.store.long_poll import QueueSignals
from roost.store.redis.subscription import SUBSCRIBE_WAIT_S, ChannelSubscription

# A long poll asks Redis again after this long even without a notice.
RECHECK_S = 1.0


class WakeListener:
    """One subscription to ``channel`` per store, started by the first long poll."""

    def __init__(self, client: redis_asyncio.Redis, channel: str, signals: QueueSignals) -> None:
        self._subscription = ChannelSubscription(
            client,
            channel,
            lambda data: signals.notify(data.decode()),
            # Notices published before now are lost to us: every poll looks again.
            signals.notify_all,
            name="queue wake-ups",
        )

    async def ready(self, timeout_s: float = SUBSCRIBE_WAIT_S) -> None:
        """Start listening if not yet, and wait up to ``timeout_s`` until subscribed.

        A poll that looked at the queue before the subscription was up could
        sleep through a send from another node; after this it cannot (unless
        the subscription drops, which ``RECHECK_S`` bounds).
        """
        await self._subscription.ready(timeout_s)

    async def close(self) -> None:
        """Stop listening."""
        await self._subscription.close()
