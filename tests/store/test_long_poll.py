"""Long polls end when their receive is cancelled, whatever lands in the same loop pass,
and give back the messages a send handed them as the cancel came."""

from __future__ import annotations

import asyncio
from pathlib import Path

from roost.store.long_poll import Claim, QueueSignals, Waiter
from roost.store.memory import MemoryQueueStore
from roost.store.ports import ReceivedMessage
from roost.store.sqlite.queues import SqliteQueueStore

QUEUE = "q"


def message(message_id: str) -> ReceivedMessage:
    return ReceivedMessage(message_id, b"{}", f"r-{message_id}", 1, 0, 0)


def test_a_poll_loop_cancelled_as_a_send_wakes_it_stops() -> None:
    # asyncio.wait_for (Python 3.11) returned the wake-up instead, and the loop
    # that was being stopped polled on (a poller's stop then waited forever).
    async def main() -> tuple[bool, int]:
        store = MemoryQueueStore()
        polls = 0

        async def poll_forever() -> None:
            nonlocal polls
            while True:
                polls += 1
                await store.receive(QUEUE, wait_s=60.0)

        task = asyncio.create_task(poll_forever())
        for _ in range(5):
            await asyncio.sleep(0)
        await store.send(QUEUE, b"{}")
        task.cancel()
        await asyncio.wait({task}, timeout=10.0)
        return task.cancelled(), polls

    cancelled, polls = asyncio.run(main())

    assert cancelled
    assert polls == 1


def test_messages_handed_to_a_cancelled_waiter_are_given_back() -> None:
    async def main() -> tuple[bool, list[tuple[str, list[ReceivedMessage]]]]:
        abandoned: list[tuple[str, list[ReceivedMessage]]] = []
        signals = QueueSignals(on_abandoned=lambda q, m: abandoned.append((q, m)))
        task = asyncio.create_task(signals.wait(QUEUE, 0, 60.0, Claim(10, 30_000)))
        await asyncio.sleep(0)
        (waiter,) = signals.claim(QUEUE, 1)
        assert signals.hand_off(waiter, [message("m1")])
        task.cancel()
        await asyncio.wait({task}, timeout=10.0)
        return task.cancelled(), abandoned

    cancelled, abandoned = asyncio.run(main())

    assert cancelled
    assert abandoned == [(QUEUE, [message("m1")])]


class CancelOnHandOff(QueueSignals):
    """Cancels a task in the very loop pass a send hands it messages (a poller
    stopping at that instant)."""

    task: asyncio.Task[list[ReceivedMessage]] | None = None

    def hand_off(self, waiter: Waiter, messages: list[ReceivedMessage]) -> bool:
        handed = super().hand_off(waiter, messages)
        if self.task is not None:
            self.task.cancel()
        return handed


def test_a_sqlite_receive_cancelled_as_its_message_arrives_leaves_it_visible(
    tmp_path: Path,
) -> None:
    async def main() -> list[ReceivedMessage]:
        store = SqliteQueueStore(tmp_path / "queues.sqlite3")
        signals = CancelOnHandOff(on_abandoned=store._release)
        store._signals = signals
        try:
            # Given a long poll hiding what it gets for 600 s, handed the message
            # a send brings as it is cancelled
            signals.task = asyncio.create_task(
                store.receive(QUEUE, max_messages=1, visibility_timeout_s=600, wait_s=60.0)
            )
            for _ in range(20):
                await asyncio.sleep(0.01)  # its first look found the queue empty
            await store.send(QUEUE, b"{}")
            await asyncio.wait({signals.task}, timeout=10.0)
            assert signals.task.cancelled()
            # Then the message is not hidden for 600 s: it is back now,
            for _ in range(200):
                again = await store.receive(QUEUE, max_messages=1, wait_s=0.0)
                if again:
                    return again
                await asyncio.sleep(0.01)
            return []
        finally:
            await store.close()

    [back] = asyncio.run(main())
    # as a message nobody received: its first delivery is still its first
    assert back.receive_count == 1


def test_a_handed_off_message_its_receiver_drops_is_found_by_later_long_polls(
    tmp_path: Path,
) -> None:
    async def main() -> list[ReceivedMessage]:
        store = SqliteQueueStore(tmp_path / "queues.sqlite3")
        try:
            # Given a long poll that a send hands its message to, hidden for 0.3 s,
            # and whose receiver then drops it (no delete, no release)
            first = asyncio.create_task(
                store.receive(QUEUE, max_messages=1, visibility_timeout_s=0.3, wait_s=5.0)
            )
            for _ in range(20):
                await asyncio.sleep(0.01)  # it looked and found the queue empty
            await store.send(QUEUE, b"{}")
            assert len(await first) == 1
            await asyncio.sleep(0.4)  # its visibility timeout is over
            # Then a long poll now gets it, rather than trusting the queue was empty
            return await store.receive(QUEUE, max_messages=1, wait_s=1.5)
        finally:
            await store.close()

    assert len(asyncio.run(main())) == 1
