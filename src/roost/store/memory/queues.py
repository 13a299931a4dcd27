"""A ``QueueStore`` held in dicts, for unit tests; nothing survives the process."""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from roost.store.errors import StoreUnavailable
from roost.store.long_poll import QueueSignals, long_poll
from roost.store.ports import QueueDepth, ReceivedMessage, ReceiveOrder
from roost.store.queue_support import (
    ReceiveAttempt,
    check_receive,
    check_send,
    check_timeout,
    make_receipt,
    new_receipt_token,
    parse_receipt,
    to_ms,
)


@dataclass
class _Message:
    sequence: int
    message_id: str
    body: bytes
    sent_at_ms: int
    visible_at_ms: int
    receive_count: int = 0
    first_received_at_ms: int | None = None
    token: str | None = None


class MemoryQueueStore:
    """Messages per queue in send order; ``clock`` (Unix seconds) stamps and ages them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._queues: dict[str, dict[int, _Message]] = {}
        self._next_sequence = 1
        self._signals = QueueSignals()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("queue store is closed")

    def _now_ms(self) -> int:
        return to_ms(self._clock())

    async def send(self, queue: str, body: bytes, *, delay_s: float = 0.0) -> str:
        (message_id,) = await self.send_batch(queue, [body], delay_s=delay_s)
        return message_id

    async def send_batch(
        self, queue: str, bodies: Sequence[bytes], *, delay_s: float = 0.0
    ) -> builtins.list[str]:
        self._check_open()
        check_send(delay_s)
        now_ms = self._now_ms()
        messages = self._queues.setdefault(queue, {})
        ids = []
        for body in bodies:
            message = _Message(
                self._next_sequence, uuid.uuid4().hex, bytes(body), now_ms, now_ms + to_ms(delay_s)
            )
            self._next_sequence += 1
            messages[message.sequence] = message
            ids.append(message.message_id)
        if not messages:
            del self._queues[queue]
        if ids:
            self._signals.notify(queue)
        return ids

    async def receive(
        self,
        queue: str,
        *,
        max_messages: int = 1,
        visibility_timeout_s: float = 30.0,
        wait_s: float = 0.0,
        order: ReceiveOrder = ReceiveOrder.OLDEST_FIRST,
    ) -> builtins.list[ReceivedMessage]:
        self._check_open()
        check_receive(max_messages, visibility_timeout_s, wait_s)
        order = ReceiveOrder(order)

        async def attempt() -> ReceiveAttempt:
            self._check_open()
            return self._receive_now(queue, max_messages, to_ms(visibility_timeout_s), order)

        return await long_poll(attempt, self._signals, queue, wait_s, self._clock)

    def _receive_now(
        self, queue: str, max_messages: int, hide_ms: int, order: ReceiveOrder
    ) -> ReceiveAttempt:
        now_ms = self._now_ms()
        messages = self._queues.get(queue, {}).values()
        ready = (m for m in messages if m.visible_at_ms <= now_ms)
        if order is ReceiveOrder.NEWEST_FIRST:
            visible = sorted(ready, key=lambda m: m.sequence, reverse=True)[:max_messages]
        else:
            visible = sorted(ready, key=lambda m: (m.visible_at_ms, m.sequence))[:max_messages]
        received = []
        for message in visible:
            message.visible_at_ms = now_ms + hide_ms
            message.receive_count += 1
            if message.first_received_at_ms is None:
                message.first_received_at_ms = now_ms
            message.token = new_receipt_token()
            received.append(
                ReceivedMessage(
                    message.message_id,
                    message.body,
                    make_receipt(message.sequence, message.token),
                    message.receive_count,
                    message.sent_at_ms,
                    message.first_received_at_ms,
                )
            )
        next_visible = None
        if not received:
            next_visible = min((m.visible_at_ms for m in messages), default=None)
        return ReceiveAttempt(received, next_visible)

    def _find(self, queue: str, receipt: str) -> _Message | None:
        parsed = parse_receipt(receipt)
        if parsed is None:
            return None
        sequence, token = parsed
        message = self._queues.get(queue, {}).get(sequence)
        return message if message is not None and message.token == token else None

    async def delete(self, queue: str, receipt: str) -> bool:
        self._check_open()
        message = self._find(queue, receipt)
        if message is None:
            return False
        messages = self._queues[queue]
        del messages[message.sequence]
        if not messages:
            del self._queues[queue]
        return True

    async def change_visibility(self, queue: str, receipt: str, timeout_s: float) -> bool:
        self._check_open()
        check_timeout(timeout_s)
        message = self._find(queue, receipt)
        if message is None:
            return False
        message.visible_at_ms = self._now_ms() + to_ms(timeout_s)
        self._signals.notify(queue)
        return True

    async def depth(self, queue: str) -> QueueDepth:
        self._check_open()
        now_ms = self._now_ms()
        visible = in_flight = delayed = 0
        for message in self._queues.get(queue, {}).values():
            if message.visible_at_ms <= now_ms:
                visible += 1
            elif message.receive_count:
                in_flight += 1
            else:
                delayed += 1
        return QueueDepth(visible, in_flight, delayed)

    async def oldest_age_s(self, queue: str) -> float | None:
        self._check_open()
        messages = self._queues.get(queue)
        if not messages:
            return None
        oldest_ms = min(m.sent_at_ms for m in messages.values())
        return max(0.0, (self._now_ms() - oldest_ms) / 1000)

    async def queues(self) -> builtins.list[str]:
        self._check_open()
        return sorted(self._queues)

    async def close(self) -> None:
        self._closed = True
        self._signals.notify_all()
