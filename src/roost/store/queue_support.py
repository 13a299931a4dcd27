"""What every ``QueueStore`` adapter shares: argument checks, receipts, long polls.

A long poll must not query the store in a loop while the queue is empty (an
empty poll competes with producers for SQLite's single writer), so adapters
wake waiters from ``send`` through ``QueueSignals`` and otherwise sleep until
the next hidden message is due to become visible.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from roost.store.ports import ReceivedMessage

# A waiter never sleeps less than this before asking again, so a clock that
# disagrees with the store's timestamps cannot turn a long poll into a spin.
MIN_POLL_SLEEP_S = 0.001


@dataclass(frozen=True)
class ReceiveAttempt:
    """One non-blocking receive: what it got, and when the next hidden message shows."""

    messages: list[ReceivedMessage]
    next_visible_at_ms: int | None


def to_ms(seconds: float) -> int:
    """Seconds (of a clock or a duration) as whole milliseconds."""
    return round(seconds * 1000)


def check_send(delay_s: float) -> None:
    """Refuse a negative delay."""
    if delay_s < 0:
        raise ValueError(f"delay_s must be >= 0, not {delay_s}")


def check_receive(max_messages: int, visibility_timeout_s: float, wait_s: float) -> None:
    """Refuse arguments no adapter can honour."""
    if max_messages < 1:
        raise ValueError(f"max_messages must be >= 1, not {max_messages}")
    if visibility_timeout_s < 0:
        raise ValueError(f"visibility_timeout_s must be >= 0, not {visibility_timeout_s}")
    if wait_s < 0:
        raise ValueError(f"wait_s must be >= 0, not {wait_s}")


def check_timeout(timeout_s: float) -> None:
    """Refuse a negative visibility timeout."""
    if timeout_s < 0:
        raise ValueError(f"timeout_s must be >= 0, not {timeout_s}")


def new_receipt_token() -> str:
    """The secret part of a receipt; a new one on every receive."""
    return secrets.token_hex(8)


def make_receipt(sequence: int, token: str) -> str:
    """A receipt names the message by its store sequence and proves the receive by a token."""
    return f"{sequence}.{token}"


def parse_receipt(receipt: str) -> tuple[int, str] | None:
    """The sequence and token of a receipt, or None if it is not one of ours."""
    sequence, dot, token = receipt.partition(".")
    if not dot or not token or not sequence.isdigit():
        return None
    return int(sequence), token


class QueueSignals:
    """Per-queue wake-ups for long polls, on one event loop.

    Every ``notify`` bumps the queue's generation, so a poller that read the
    generation before its receive and sees it changed afterwards asks again
    instead of sleeping through a message that landed in between.
    """

    def __init__(self) -> None:
        self._generations: dict[str, int] = {}
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def generation(self, queue: str) -> int:
        """A number that changes whenever the queue may have a new visible message."""
        return self._generations.get(queue, 0)

    def notify(self, queue: str) -> None:
        """Wake every long poll of ``queue``; they re-check the store."""
        self._generations[queue] = self.generation(queue) + 1
        for waiter in self._waiters.pop(queue, set()):
            if not waiter.done():
                waiter.set_result(None)

    def notify_all(self) -> None:
        """Wake every long poll of every queue (the store is closing)."""
        for queue in list(self._waiters):
            self.notify(queue)

    async def wait(self, queue: str, generation: int, timeout_s: float) -> None:
        """Sleep until ``notify(queue)`` or ``timeout_s``; at once if ``generation`` is old."""
        if self.generation(queue) != generation:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(queue, set())
        waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            pass
        finally:
            waiters.discard(waiter)
            if not waiters and self._waiters.get(queue) is waiters:
                del self._waiters[queue]


async def long_poll(
    attempt: Callable[[], Awaitable[ReceiveAttempt]],
    signals: QueueSignals,
    queue: str,
    wait_s: float,
    clock: Callable[[], float],
) -> list[ReceivedMessage]:
    """Repeat ``attempt`` until it returns messages or ``wait_s`` (event-loop time) passes.

    Between attempts it sleeps until a ``send`` notifies the queue or the next
    hidden message is due (by ``clock``, the store's clock), whichever is first.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        generation = signals.generation(queue)
        result = await attempt()
        remaining_s = deadline - loop.time()
        if result.messages or remaining_s <= 0:
            return result.messages
        sleep_s = remaining_s
        if result.next_visible_at_ms is not None:
            due_in_s = result.next_visible_at_ms / 1000 - clock()
            sleep_s = min(sleep_s, max(due_in_s, MIN_POLL_SLEEP_S))
        await signals.wait(queue, generation, sleep_s)
