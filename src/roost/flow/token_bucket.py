"""A token bucket: a refill rate with a burst, taken one token per event.

Tokens accrue at ``rate_per_s`` up to ``burst``; an event takes one (or more)
before it starts. ``try_take`` never waits (a caller that cannot wait puts its
work back); ``take`` waits its turn for tokens, first come first served, and
can be cancelled while waiting without losing anything (nothing is taken
until it returns). The rate and burst can change while the bucket is in use
(the drain governor moves the async drain rate every interval; a tenant's
bucket follows its function's concurrency and duration): tokens accrued so far
are kept, at most the new burst. The clock is injected so tests need no sleeps.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

# A waiting ``take`` looks again at least this often, so a rate raised while it
# waits (or a rate of 0 raised later) is seen without a wake-up protocol.
MAX_WAIT_SLICE_S = 0.25


class TokenBucket:
    """Holds up to ``burst`` tokens, refilled at ``rate_per_s``; starts full."""

    def __init__(
        self,
        rate_per_s: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        _check(rate_per_s, burst)
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._updated = clock()
        # Serialises waiting takes: asyncio.Lock hands itself on in arrival order.
        self._turn: asyncio.Lock | None = None

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_s)
        self._updated = now

    def try_take(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if available now; never waits."""
        self._refill()
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        return False

    def time_until(self, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` are available (0 now; ``inf`` if they never will be:
        a rate of 0, or more than the burst)."""
        self._refill()
        missing = tokens - self._tokens
        if missing <= 0:
            return 0.0
        if self.rate_per_s <= 0 or tokens > self.burst:
            return math.inf
        return missing / self.rate_per_s

    async def take(self, tokens: float = 1.0) -> None:
        """Wait until ``tokens`` are available, then take them; waiters go in arrival
        order. Cancelling it while it waits takes nothing."""
        if self._turn is None:
            self._turn = asyncio.Lock()
        if not self._turn.locked() and self.try_take(tokens):
            return
        async with self._turn:
            while not self.try_take(tokens):
                await self._sleep(min(self.time_until(tokens), MAX_WAIT_SLICE_S))

    def set_rate(self, rate_per_s: float, burst: float | None = None) -> None:
        """Change the refill rate (and the burst) from now on; tokens accrued at the old
        rate until now are kept, at most the new burst."""
        new_burst = self.burst if burst is None else burst
        _check(rate_per_s, new_burst)
        self._refill()
        self.rate_per_s = rate_per_s
        self.burst = new_burst
        self._tokens = min(self._tokens, new_burst)

    @property
    def available(self) -> float:
        """Tokens that could be taken now."""
        self._refill()
        return self._tokens


def _check(rate_per_s: float, burst: float) -> None:
    if rate_per_s < 0:
        raise ValueError(f"rate_per_s must be >= 0, not {rate_per_s}")
    if burst <= 0:
        raise ValueError(f"burst must be > 0, not {burst}")
