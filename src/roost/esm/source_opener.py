"""``SourceOpener``: opens a running mapping's source, retrying until it is there.

A queue or stream that is missing (not created yet, deleted, unreachable)
must not fail the mapping: the runner keeps trying with doubling delays and
says why in ``error`` (``PROBLEM: ...``, what ``LastProcessingResult`` shows).
The first attempt is awaited by ``start``: after it, the mapping counts as
started either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class SourceOpener:
    """Retries ``open`` until it succeeds; ``first_attempt`` is set once one ended."""

    def __init__(
        self,
        uuid: str,
        open_: Callable[[], Awaitable[None]],
        progress: Callable[[], None],
        retry_s: float,
        max_retry_s: float,
    ) -> None:
        self._uuid = uuid
        self._open = open_
        self._progress = progress
        self._retry_s = retry_s
        self._max_retry_s = max_retry_s
        self.first_attempt = asyncio.Event()
        self.error: str | None = None

    async def run(self) -> None:
        """Open, retrying with doubling delays; returns once the source is open."""
        delay_s = self._retry_s
        while True:
            try:
                await self._open()
                self.error = None
                return
            except Exception as error:
                self.error = f"PROBLEM: {error}"
                log.warning("mapping %s: cannot open its source: %s", self._uuid, error)
            self.first_attempt.set()
            self._progress()
            await asyncio.sleep(delay_s)
            delay_s = min(self._max_retry_s, delay_s * 2)
