"""The visibility keeper: keeps the messages a poller holds hidden while it holds them.

A received message is hidden for the visibility timeout; an event that waits
for a slot or runs longer than that must be hidden again, or another poller
would receive it meanwhile. One keeper per poller does it for all of them: every
third of the timeout it extends each message held (the extensions share the
queue store's next group commit), instead of a timer task per message, which
cost a task creation and a cancellation on every event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from roost.store.errors import StoreUnavailable
from roost.store.ports import QueueStore, ReceivedMessage

log = logging.getLogger(__name__)


class VisibilityKeeper:
    """Messages held (by receipt) and the task that keeps them hidden; ``start``, ``stop``."""

    def __init__(self, queues: QueueStore, timeout_s: float) -> None:
        self._queues = queues
        self._timeout_s = timeout_s
        self._held: dict[str, tuple[str, ReceivedMessage]] = {}
        self._task: asyncio.Task[None] | None = None

    def hold(self, queue: str, messages: Iterable[ReceivedMessage]) -> None:
        """Keep ``messages`` of ``queue`` hidden until ``release``d."""
        for message in messages:
            self._held[message.receipt] = (queue, message)

    def release(self, message: ReceivedMessage) -> None:
        """Stop keeping ``message`` hidden (it is settled, or its receive is given up)."""
        self._held.pop(message.receipt, None)

    def start(self) -> None:
        """Begin the beats (on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the beats; messages still held come back after their timeout."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._timeout_s / 3)
            await self.beat()

    async def beat(self) -> None:
        """Hide every message held for another full timeout, now."""
        held = list(self._held.items())
        results = await asyncio.gather(
            *(self._keep(receipt, queue, message) for receipt, (queue, message) in held),
            return_exceptions=True,
        )
        for (receipt, (_, message)), kept in zip(held, results, strict=True):
            if isinstance(kept, StoreUnavailable):
                continue  # The next beat may get through before the timeout runs out.
            if isinstance(kept, BaseException):
                log.error("could not keep message %s hidden", message.message_id, exc_info=kept)
            elif not kept and self._held.pop(receipt, None) is not None:
                log.warning("async message %s was redelivered meanwhile", message.message_id)

    async def _keep(self, receipt: str, queue: str, message: ReceivedMessage) -> bool:
        # Checked when the call starts, not when the beat began: a message released
        # meanwhile may have been given a visibility of its own (a retry's backoff,
        # a deferral), which this extension, committed after it, would undo.
        if receipt not in self._held:
            return True
        return await self._queues.change_visibility(queue, message.receipt, self._timeout_s)
