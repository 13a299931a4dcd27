"""A semaphore whose number of slots can change while it is in use.

``asyncio.Semaphore`` fixes its slots at construction; flow control needs a
bound that moves with the node's state (the async plane's share shrinks while
sync invokes are being served). ``AdaptiveSemaphore`` asks ``limit()`` whenever
it decides: a lower limit takes effect as slots are released (nothing running is
cut short), a higher one at the next acquire or release.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from types import TracebackType


class AdaptiveSemaphore:
    """Up to ``limit()`` holders at once, first come first served; used from one loop."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._in_use = 0
        # The most slots ever held at once (what a cap's tests check).
        self.peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        return self._in_use

    def free(self) -> int:
        """Slots an acquire would get without waiting, right now."""
        if self._waiters:
            return 0
        return max(0, self._limit() - self._in_use)

    def locked(self) -> bool:
        """Whether an acquire would wait."""
        return self.free() == 0

    async def acquire(self) -> None:
        """Take a slot, waiting (in arrival order) until one is free."""
        if not self._waiters and self._in_use < max(1, self._limit()):
            self._take()
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()  # Granted as the cancel came: hand it on.
            else:
                self._waiters.remove(granted)
            raise

    def release(self) -> None:
        """Give a slot back; wakes as many waiters as the limit now allows."""
        if self._in_use <= 0:
            raise ValueError("AdaptiveSemaphore released more often than acquired")
        self._in_use -= 1
        self.wake()

    def wake(self) -> None:
        """Grant waiting acquires the slots free under the current limit (a limit
        that rose without a release lets them in when this is called)."""
        # max(1, ...): a limit of 0 would strand waiters with nobody to release.
        while self._waiters and self._in_use < max(1, self._limit()):
            granted = self._waiters.popleft()
            if not granted.done():
                self._take()
                granted.set_result(None)

    def _take(self) -> None:
        self._in_use += 1
        self.peak = max(self.peak, self._in_use)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
