"""Start-up work that needs a store, retried in the background while the store is down.

A node must start, and serve what its snapshots know, even when its config
store fails from the very start (static stability, ``docs/resilience.md``).
Some start-up work reads a store: finishing the function transitions a
previous process left pending, settling event source mappings left
transitional. ``StartupRecovery`` runs each such step once while the node
starts, as before, so a healthy start finishes it before serving; a step that
raises ``StoreUnavailable`` is not fatal: it is retried in the background,
backing off, until it succeeds or the node stops. The node therefore
converges without a restart once the store is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from roost.cancellation import within
from roost.store.errors import StoreUnavailable

log = logging.getLogger(__name__)

StartupStep = Callable[[], Awaitable[None]]
"""One piece of start-up work; raises ``StoreUnavailable`` when its store is down.

It must be safe to run again from the start after a failed run (idempotent).
"""


@dataclass(frozen=True)
class RecoverySettings:
    """How a postponed step is retried: after ``first_retry_s``, doubling to ``max_retry_s``."""

    first_retry_s: float = 0.5
    max_retry_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.first_retry_s <= self.max_retry_s:
            raise ValueError("need 0 < first_retry_s <= max_retry_s")


class StartupRecovery:
    """Runs start-up steps now, or later in the background if their store is down."""

    def __init__(self, settings: RecoverySettings | None = None) -> None:
        self.settings = settings or RecoverySettings()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()

    @property
    def pending(self) -> list[str]:
        """The names of the steps still waiting for their store, sorted."""
        return sorted(name for name, task in self._tasks.items() if not task.done())

    async def run(self, name: str, step: StartupStep) -> bool:
        """Run ``step`` now; whether it finished. One that raised ``StoreUnavailable``
        is retried in the background (other errors propagate: they stop the start)."""
        try:
            await step()
        except StoreUnavailable as error:
            log.warning("start-up: %s postponed (%s); retrying in the background", name, error)
            self._tasks[name] = asyncio.get_running_loop().create_task(
                self._retry(name, step), name=f"startup-recovery {name}"
            )
            return False
        return True

    async def _retry(self, name: str, step: StartupStep) -> None:
        delay_s = self.settings.first_retry_s
        while not await self._stopped_within(delay_s):
            try:
                await step()
            except StoreUnavailable:
                delay_s = min(self.settings.max_retry_s, delay_s * 2)
                continue
            except Exception:
                # A bug, not an outage: logged, and tried again like an outage, since
                # skipping the step would leave the node short of its start-up work.
                log.exception("start-up: %s failed; retrying", name)
                delay_s = self.settings.max_retry_s
                continue
            log.info("start-up: %s done once its store was back", name)
            return

    async def _stopped_within(self, delay_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await within(self._stopping.wait(), delay_s)
        return self._stopping.is_set()

    async def stop(self) -> None:
        """Stop retrying (a step in progress is cancelled; it is safe to run again)."""
        self._stopping.set()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
