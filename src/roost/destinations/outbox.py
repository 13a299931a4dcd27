"""A durable outbox for deliveries that could not be made now.

``ParkingDelivery`` wraps ``DestinationDelivery`` for the async plane: a record
or dead-letter message whose delivery failed (the target errored through every
retry, or its circuit breaker is open, or the board sees a fleet-wide fault)
is written to an internal queue of the node's ``QueueStore`` before the call
returns, so the poller may delete the event without losing its outcome and
without running the function again. A redelivery loop takes parked deliveries
back out and tries them again through the same delivery (and so through the
same breakers): a target that stays open is not hammered, each parked
delivery waits longer after each failed try, and one that stayed parked longer
than ``max_age_s`` is given up with an error in the log.

If even parking fails (the store is down) ``DeliveryNotParked`` is raised:
the sink lets it through, so the poller keeps the event and it comes back
after its visibility timeout (at-least-once), instead of the outcome being lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from roost.cancellation import all_ended, cancel_and_wait
from roost.destinations.delivery import DeliveryStatus, DestinationDelivery
from roost.destinations.records import Condition, DeadLetterMessage
from roost.store.ports import QueueStore, ReceivedMessage

log = logging.getLogger(__name__)

OUTBOX_QUEUE = "roost-destination-outbox"
# How long parked deliveries taken for a retry stay hidden from other redelivery
# loops (every node's, on a shared store): longer than one delivery's tries,
# timeouts and backoff take, so none is sent twice at once. Each retry then sets
# its delivery's next visibility itself; a loop that dies mid-way leaves its
# deliveries to come back after this.
REDELIVERY_HOLD_S = 300.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class DeliveryNotParked(Exception):
    """A failed delivery could not be parked either; the event must be kept."""


@dataclass(frozen=True)
class OutboxSettings:
    """Knobs of the outbox."""

    queue: str = OUTBOX_QUEUE
    idle_poll_s: float = 1.0
    """Long-poll wait of the redelivery loop on an empty outbox."""
    retry_delay_s: float = 2.0
    """Wait before a parked delivery's first retry; doubles per failed retry."""
    max_retry_delay_s: float = 60.0
    max_age_s: float = 6 * 3600.0
    """A parked delivery still failing after this long is given up (AWS's longest event age)."""
    batch: int = 10


class ParkingDelivery:
    """A ``RecordDelivery`` that parks what it could not deliver; ``start`` then ``stop``."""

    def __init__(
        self,
        delivery: DestinationDelivery,
        queues: QueueStore,
        settings: OutboxSettings | None = None,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._delivery = delivery
        self._queues = queues
        self._settings = settings or OutboxSettings()
        self._clock_ms = clock_ms
        self._loop: asyncio.Task[None] | None = None

    async def send_record(
        self, destination_arn: str, record: Mapping[str, Any], condition: Condition
    ) -> bool:
        """Deliver now, or park; whether it arrived now. Raises ``DeliveryNotParked``."""
        status = await self._delivery.deliver_record(destination_arn, record, condition)
        if status is DeliveryStatus.FAILED:
            await self._park(
                {
                    "kind": "record",
                    "target": destination_arn,
                    "record": record,
                    "condition": condition,
                }
            )
        return status is DeliveryStatus.SENT

    async def send_dead_letter(self, target_arn: str, message: DeadLetterMessage) -> bool:
        """Deliver now, or park; whether it arrived now. Raises ``DeliveryNotParked``."""
        status = await self._delivery.deliver_dead_letter(target_arn, message)
        if status is DeliveryStatus.FAILED:
            await self._park(
                {
                    "kind": "deadLetter",
                    "target": target_arn,
                    "body": message.body,
                    "attributes": {k: dict(v) for k, v in message.attributes.items()},
                }
            )
        return status is DeliveryStatus.SENT

    async def _park(self, document: dict[str, Any]) -> None:
        document["parkedAtMs"] = self._clock_ms()
        body = json.dumps(document, separators=(",", ":")).encode()
        try:
            await self._queues.send(
                self._settings.queue, body, delay_s=self._settings.retry_delay_s
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise DeliveryNotParked(f"{document['target']}: {error}") from error
        log.warning("delivery to %s parked in the outbox", document["target"])

    def start(self) -> None:
        """Begin redelivering parked deliveries (on the running loop)."""
        self._loop = asyncio.get_running_loop().create_task(self._redeliver_forever())

    async def stop(self) -> None:
        """Stop redelivering; deliveries in flight come back after their delay."""
        if self._loop is not None:
            await cancel_and_wait(self._loop)
            self._loop = None

    async def _redeliver_forever(self) -> None:
        while True:
            try:
                await self.redeliver_once(self._settings.idle_poll_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox redelivery failed")
                await asyncio.sleep(self._settings.idle_poll_s)

    async def redeliver_once(self, wait_s: float = 0.0) -> int:
        """Try the parked deliveries now due (up to a batch); how many got out."""
        settings = self._settings
        messages = await self._queues.receive(
            settings.queue,
            max_messages=settings.batch,
            visibility_timeout_s=REDELIVERY_HOLD_S,
            wait_s=wait_s,
        )
        # At once, so that the hold covers one delivery's time, not a batch's.
        delivered = await all_ended(*(self._redeliver(message) for message in messages))
        return sum(delivered)

    async def _redeliver(self, message: ReceivedMessage) -> bool:
        settings = self._settings
        try:
            document = json.loads(message.body)
            status = await self._retry(document)
        except (ValueError, KeyError, TypeError) as error:
            log.error("outbox: unreadable parked delivery %s: %s", message.message_id, error)
            await self._queues.delete(settings.queue, message.receipt)
            return False
        if status is not DeliveryStatus.FAILED:
            await self._queues.delete(settings.queue, message.receipt)
            return status is DeliveryStatus.SENT
        age_s = (self._clock_ms() - int(document["parkedAtMs"])) / 1000
        if age_s >= settings.max_age_s:
            log.error(
                "outbox: giving up the delivery to %s, parked %.0f s ago", document["target"], age_s
            )
            await self._queues.delete(settings.queue, message.receipt)
            return False
        delay_s = min(
            settings.max_retry_delay_s,
            settings.retry_delay_s * 2 ** max(0, message.receive_count - 1),
        )
        await self._queues.change_visibility(settings.queue, message.receipt, delay_s)
        return False

    async def _retry(self, document: Mapping[str, Any]) -> DeliveryStatus:
        target = str(document["target"])
        if document["kind"] == "record":
            condition = Condition(document["condition"])
            return await self._delivery.deliver_record(target, document["record"], condition)
        message = DeadLetterMessage(body=str(document["body"]), attributes=document["attributes"])
        return await self._delivery.deliver_dead_letter(target, message)
