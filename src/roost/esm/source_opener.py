"""``SourceOpener``: opens a running mapping's source, retrying until it is there.

A queue or stream that is missing (not created yet, deleted, unreachable)
must not fail the mapping: the runner keeps trying with doubling delays and
says why in ``error`` (``PROBLEM: ...``, what ``LastProcessingResult`` shows).
The first attempt is awaited by ``start``: after it, the mapping counts as
started either way.

With the ``event_source`` breaker board, each attempt reports its outcome
under the mapping's endpoint key, as the polls do, so a source that cannot
even be opened counts toward its breaker (and toward a fleet-wide fault when
every mapping's endpoint fails); while that breaker (or the fleet backoff)
refuses, the attempt is skipped and the opener waits as after a failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from roost.flow.circuit_breaker import BreakerBoard

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
        breakers: BreakerBoard | None = None,
        endpoint: str = "",
    ) -> None:
        """``breakers``/``endpoint``: the board and key the attempts report to (None: none)."""
        self._uuid = uuid
        self._open = open_
        self._progress = progress
        self._retry_s = retry_s
        self._max_retry_s = max_retry_s
        self._breakers = breakers
        self._endpoint = endpoint
        self.first_attempt = asyncio.Event()
        self.error: str | None = None

    async def run(self) -> None:
        """Open, retrying with doubling delays; returns once the source is open."""
        delay_s = self._retry_s
        while True:
            if await self._attempt():
                return
            self.first_attempt.set()
            self._progress()
            await asyncio.sleep(delay_s)
            delay_s = min(self._max_retry_s, delay_s * 2)

    async def _attempt(self) -> bool:
        """One attempt to open, unless the endpoint's breaker refuses; whether it opened."""
        breakers = self._breakers
        if breakers is not None and not breakers.admit(self._endpoint).allowed:
            # The error of the last real attempt (or of the polls) still stands.
            self.error = self.error or "PROBLEM: the event source is failing; retrying later"
            return False
        try:
            await self._open()
        except Exception as error:
            self.error = f"PROBLEM: {error}"
            log.warning("mapping %s: cannot open its source: %s", self._uuid, error)
            if breakers is not None:
                breakers.record_failure(self._endpoint)
            return False
        self.error = None
        if breakers is not None:
            breakers.record_success(self._endpoint)
        return True
