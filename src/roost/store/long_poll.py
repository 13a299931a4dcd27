"""Long polls of a ``QueueStore``: sleep while a queue is empty, wake on ``send``.

A long poll must not query the store in a loop while the queue is empty (an
empty poll competes with producers for SQLite's single writer), so adapters
wake waiters from ``send`` through ``QueueSignals`` and otherwise sleep until
the next hidden message is due to become visible.

A waiter may also leave a *claim* (how many messages it takes and for how
long it hides them). An adapter that can ``claim`` waiters when it sends hands
them the new messages, received in the very transaction that stores them: at
low load an event then costs one write less, and the next send does not queue
behind a receive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from roost.cancellation import within
from roost.store.ports import ReceivedMessage
from roost.store.queue_support import ReceiveAttempt, to_ms

# A waiter never sleeps less than this before asking again, so a clock that
# disagrees with the store's timestamps cannot turn a long poll into a spin.
MIN_POLL_SLEEP_S = 0.001


@dataclass(frozen=True)
class Claim:
    """What a waiting receive takes when a send hands it messages."""

    max_messages: int
    hide_ms: int


@dataclass(eq=False)
class Waiter:
    """One sleeping long poll; its future gets handed messages, or None to look again."""

    claim: Claim | None
    future: asyncio.Future[list[ReceivedMessage] | None] = field(repr=False)


class QueueSignals:
    """Per-queue wake-ups and hand-offs for long polls, on one event loop.

    Every ``notify`` bumps the queue's generation, so a poller that read the
    generation before its receive and sees it changed afterwards asks again
    instead of sleeping through a message that landed in between.
    """

    def __init__(
        self, on_abandoned: Callable[[str, list[ReceivedMessage]], None] | None = None
    ) -> None:
        """``on_abandoned(queue, messages)`` gives back messages handed to a waiter that
        was cancelled before it could return them (they would stay hidden until their
        visibility timeout otherwise)."""
        self._on_abandoned = on_abandoned
        self._generations: dict[str, int] = {}
        self._waiters: dict[str, list[Waiter]] = {}
        # Queues a receive found with nothing visible: the generation it saw and
        # when the next hidden message is due (Unix ms, None: none hidden).
        self._empty: dict[str, tuple[int, int | None]] = {}

    def mark_empty(self, queue: str, generation: int, next_visible_at_ms: int | None) -> None:
        """A receive that started at ``generation`` found nothing visible in ``queue``."""
        self._empty[queue] = (generation, next_visible_at_ms)

    def hidden_until(self, queue: str, due_ms: int) -> None:
        """A message of ``queue`` is hidden until ``due_ms`` with no ``notify`` (it was
        handed to a claim): its queue's empty mark must send polls to the store by
        then, or one its receiver never settles would wait there unseen."""
        mark = self._empty.get(queue)
        if mark is not None and (mark[1] is None or due_ms < mark[1]):
            self._empty[queue] = (mark[0], due_ms)

    def known_empty(self, queue: str, now_ms: int) -> tuple[bool, int | None]:
        """Whether ``queue`` has had nothing visible since its last empty receive
        (nothing sent or made visible since, nothing due yet), and when the next
        hidden message is due: a receive then need not ask the store."""
        mark = self._empty.get(queue)
        if mark is None or mark[0] != self.generation(queue):
            return False, None
        due = mark[1]
        return due is None or now_ms < due, due

    def generation(self, queue: str) -> int:
        """A number that changes whenever the queue may have a new visible message."""
        return self._generations.get(queue, 0)

    def notify(self, queue: str) -> None:
        """Wake every long poll of ``queue``; they re-check the store."""
        self._generations[queue] = self.generation(queue) + 1
        for waiter in self._waiters.pop(queue, []):
            if not waiter.future.done():
                waiter.future.set_result(None)

    def notify_all(self) -> None:
        """Wake every long poll of every queue (the store is closing)."""
        for queue in list(self._waiters):
            self.notify(queue)

    def waiting(self, queue: str) -> int:
        """How many long polls of ``queue`` are asleep."""
        return len(self._waiters.get(queue, ()))

    def claim(self, queue: str, messages: int) -> list[Waiter]:
        """Take waiters of ``queue`` with a claim, oldest first, for up to ``messages``.

        They leave the queue's waiters: the caller must ``hand_off`` to each (an
        empty list if its send failed: they look again). The generation does not
        move: messages handed off are nobody else's, so the caller ``notify``s
        only if its send leaves some visible.
        """
        waiting = self._waiters.get(queue, [])
        taken: list[Waiter] = []
        for waiter in waiting:
            if messages <= 0:
                break
            if waiter.claim is not None and not waiter.future.done():
                taken.append(waiter)
                messages -= waiter.claim.max_messages
        if taken:
            rest = [waiter for waiter in waiting if waiter not in taken]
            if rest:
                self._waiters[queue] = rest
            else:
                del self._waiters[queue]
        return taken

    @staticmethod
    def hand_off(waiter: Waiter, messages: list[ReceivedMessage]) -> bool:
        """Give ``messages`` to a claimed waiter; False if it stopped waiting meanwhile."""
        if waiter.future.done():
            return False
        waiter.future.set_result(messages)
        return True

    async def wait(
        self, queue: str, generation: int, timeout_s: float, claim: Claim | None = None
    ) -> list[ReceivedMessage] | None:
        """Sleep until ``notify(queue)`` or ``timeout_s`` (None), or until messages are
        handed to ``claim`` (them); at once (None) if ``generation`` is old."""
        if self.generation(queue) != generation:
            return None
        waiter = Waiter(claim, asyncio.get_running_loop().create_future())
        waiters = self._waiters.setdefault(queue, [])
        waiters.append(waiter)
        try:
            return await within(waiter.future, timeout_s)
        except TimeoutError:
            # Our own deadline: what was handed over as it came is still ours.
            return _handed(waiter)
        except asyncio.CancelledError:
            # The receive is called off (its poller stops): the cancel must go on,
            # and what was handed over as it came goes back to the queue now.
            handed = _handed(waiter)
            if handed and self._on_abandoned is not None:
                self._on_abandoned(queue, handed)
            raise
        finally:
            waiters = self._waiters.get(queue, [])
            if waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[queue]


def _handed(waiter: Waiter) -> list[ReceivedMessage] | None:
    """What a waiter whose wait ended without its result was handed meanwhile."""
    future = waiter.future
    if future.done() and not future.cancelled():
        return future.result()
    return None


async def long_poll(
    attempt: Callable[[], Awaitable[ReceiveAttempt]],
    signals: QueueSignals,
    queue: str,
    wait_s: float,
    clock: Callable[[], float],
    claim: Claim | None = None,
) -> list[ReceivedMessage]:
    """Repeat ``attempt`` until it returns messages or ``wait_s`` (event-loop time) passes.

    Between attempts it sleeps until a ``send`` notifies the queue (or hands
    messages to ``claim``) or the next hidden message is due (by ``clock``, the
    store's clock), whichever is first.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        generation = signals.generation(queue)
        empty, due_ms = signals.known_empty(queue, to_ms(clock()))
        if empty and wait_s > 0:
            # Nothing visible since the last look: wait without a store query
            # (each one is a write on SQLite, in line with the senders).
            result = ReceiveAttempt([], due_ms)
        else:
            result = await attempt()
            if not result.messages:
                signals.mark_empty(queue, generation, result.next_visible_at_ms)
        remaining_s = deadline - loop.time()
        if result.messages or remaining_s <= 0:
            return result.messages
        sleep_s = remaining_s
        if result.next_visible_at_ms is not None:
            due_in_s = result.next_visible_at_ms / 1000 - clock()
            sleep_s = min(sleep_s, max(due_in_s, MIN_POLL_SLEEP_S))
        handed = await signals.wait(queue, generation, sleep_s, claim)
        if handed:
            return handed
