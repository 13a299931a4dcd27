"""Completing a mapping's state transitions: the seam the pollers plug into.

A create, update or delete is acknowledged in a transitional state (``Creating``,
``Updating``, ``Enabling``, ``Disabling``, ``Deleting``). Something must then
carry it out and say so:

- ``settle(uuid)`` moves a transitional mapping to ``Enabled`` or ``Disabled``
  (by its desired ``enabled`` flag) and removes a ``Deleting`` one;
- ``MappingActivator`` calls it in the background after every control-plane
  write (``schedule``) and, at start-up, for whatever a crash left open
  (``recover``).

Without pollers the activator settles at once. With them (``esm/plane.py``) the
node starts it with ``auto_settle=False`` and an ``on_change`` hook that wakes
the ESM plane's reconciler, which settles a mapping once a poller really runs
it (or nobody runs it any more); ``recover`` still finishes deletions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from roost.cancellation import within
from roost.esm.mapping import EventSourceMapping
from roost.esm.repository import MappingRepository
from roost.esm.states import USER_INITIATED, MappingState, can_finish_delete, settle
from roost.functions.lifecycle import backoff_delays
from roost.store.errors import ConditionFailed

log = logging.getLogger(__name__)

FIRST_RETRY_DELAY_S = 0.05
MAX_RETRY_DELAY_S = 5.0


def settled(mapping: EventSourceMapping, now_s: float) -> EventSourceMapping | None:
    """The mapping once its transition is complete; None if it is stable already.

    ``Deleting`` is not handled here (it ends with the record removed).
    """
    if not mapping.state.transitional or mapping.state is MappingState.DELETING:
        return None
    return dataclasses.replace(
        mapping,
        state=settle(mapping.state, enabled=mapping.enabled),
        state_transition_reason=USER_INITIATED,
        last_modified_s=now_s,
    )


async def settle_mapping(mappings: MappingRepository, uuid: str) -> EventSourceMapping | None:
    """Complete one mapping's transition now (idempotent): the pollers' call.

    Returns the settled mapping, or None when it was deleted (or is gone).
    ``ConditionFailed`` only if it kept changing under ``transition``'s retries.
    """
    while True:
        current = await mappings.get(uuid)
        if current is None:
            return None
        if not can_finish_delete(current.state):
            return await mappings.transition(uuid, lambda m: settled(m, mappings.now_s()))
        try:
            await mappings.remove(current)
            return None
        except ConditionFailed:
            continue  # Rewritten meanwhile (still Deleting): read it again.


class MappingActivator:
    """Settles mappings in the background, retrying with backoff until done or stopped."""

    def __init__(
        self,
        mappings: MappingRepository,
        *,
        auto_settle: bool = True,
        on_change: Callable[[str], None] | None = None,
        first_retry_delay_s: float = FIRST_RETRY_DELAY_S,
        max_retry_delay_s: float = MAX_RETRY_DELAY_S,
    ) -> None:
        self._mappings = mappings
        self.auto_settle = auto_settle
        self._on_change = on_change
        self._first_delay_s = first_retry_delay_s
        self._max_delay_s = max_retry_delay_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    def schedule(self, uuid: str) -> None:
        """A control-plane write left ``uuid`` transitional: settle it soon (if auto),
        and tell ``on_change`` (the pollers' reconciler) either way."""
        if self._on_change is not None:
            self._on_change(uuid)
        if not self.auto_settle:
            return
        task = asyncio.get_running_loop().create_task(self.settle(uuid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self, uuid: str) -> None:
        """Settle ``uuid``, retrying failures with backoff until it is done or stopped."""
        delays = backoff_delays(self._first_delay_s, self._max_delay_s)
        while True:
            try:
                await settle_mapping(self._mappings, uuid)
                return
            except Exception:
                log.exception("settling event source mapping %s failed; retrying", uuid)
            try:
                await within(self._stopping.wait(), next(delays))
            except TimeoutError:
                continue
            return  # stopped: recover() finishes it at the next start

    async def recover(self) -> int:
        """Settle what a previous process left transitional; returns how many there were.

        Without ``auto_settle`` only deletions are finished; the rest wait for the pollers.
        """
        pending = [m for m in await self._mappings.list() if m.state.transitional]
        for mapping in pending:
            if self.auto_settle or mapping.state is MappingState.DELETING:
                await self.settle(mapping.uuid)
        return len(pending)

    async def stop(self) -> None:
        """Let settles in progress finish their attempt; no more retries."""
        self._stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
