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

import asyncio
import contextlib
import logging

import redis.asyncio as redis_asyncio
import redis.exceptions as redis_errors

from roost.store.long_poll import QueueSignals

log = logging.getLogger(__name__)

# A long poll asks Redis again after this long even without a notice.
RECHECK_S = 1.0
# How long a poll waits for the subscription before it polls without it.
SUBSCRIBE_WAIT_S = 1.0
# Between attempts to subscribe again while Redis is unreachable.
RESUBSCRIBE_DELAY_S = 0.2
# How long one read of the subscription blocks (also how often it checks health).
_READ_TIMEOUT_S = 1.0


class WakeListener:
    """One subscription to ``channel`` per store, started by the first long poll."""

    def __init__(self, client: redis_asyncio.Redis, channel: str, signals: QueueSignals) -> None:
        self._client = client
        self._channel = channel
        self._signals = signals
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def ready(self, timeout_s: float = SUBSCRIBE_WAIT_S) -> None:
        """Start listening if not yet, and wait up to ``timeout_s`` until subscribed.

        A poll that looked at the queue before the subscription was up could
        sleep through a send from another node; after this it cannot (unless
        the subscription drops, which ``RECHECK_S`` bounds).
        """
        if self._subscribed.is_set():
            return
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), min(timeout_s, SUBSCRIBE_WAIT_S))

    async def close(self) -> None:
        """Stop listening."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

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
                log.debug("queue wake-ups lost their subscription: %r", error)
            except Exception:
                # Not expected, but polls must not lose their wake-ups for good.
                log.exception("queue wake-ups failed; subscribing again")
            finally:
                self._subscribed.clear()
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    def _deliver(self, message: dict[str, object]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            # Notices published before now are lost to us: every poll looks again.
            self._subscribed.set()
            self._signals.notify_all()
        elif kind == "message":
            data = message.get("data")
            if isinstance(data, bytes):
                self._signals.notify(data.decode())
