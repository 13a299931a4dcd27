"""The outbox's redelivery loops: a parked delivery is sent once, however long it takes,
when several loops (one per node on a shared store) redeliver at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from roost.destinations.delivery import DeliveryStatus
from roost.destinations.outbox import OutboxSettings, ParkingDelivery
from roost.destinations.records import Condition
from roost.store.memory.queues import MemoryQueueStore

TARGET = "arn:aws:sqs:us-east-1:000000000000:on-failure"
OUTBOX = OutboxSettings(retry_delay_s=0.05, max_retry_delay_s=0.1, idle_poll_s=0.05)


@dataclass
class SlowToRecover:
    """A target that failed when the outcome was first sent, and now takes 0.5 s per
    delivery (ten times the outbox's first retry delay)."""

    failed_once: bool = False
    sent: list[Any] = field(default_factory=list)

    async def deliver_record(
        self, target: str, record: Any, condition: Condition
    ) -> DeliveryStatus:
        if not self.failed_once:
            self.failed_once = True
            return DeliveryStatus.FAILED
        await asyncio.sleep(0.5)
        self.sent.append(record)
        return DeliveryStatus.SENT


def test_a_parked_delivery_is_sent_once_by_loops_redelivering_at_once() -> None:
    async def main() -> list[Any]:
        queues, target = MemoryQueueStore(), SlowToRecover()
        first = ParkingDelivery(target, queues, OUTBOX)
        second = ParkingDelivery(target, queues, OUTBOX)
        assert not await first.send_record(TARGET, {"n": 1}, Condition.RETRIES_EXHAUSTED)
        await asyncio.sleep(0.1)  # its first retry is due
        first_loop = asyncio.create_task(first.redeliver_once())
        await asyncio.sleep(0.2)  # well past the retry delay, the delivery still going
        assert await second.redeliver_once() == 0
        assert await first_loop == 1
        return target.sent

    assert asyncio.run(main()) == [{"n": 1}]
