"""Destination circuit breakers against moto: a sick target vs a sick fleet, nothing lost."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import boto3

from roost.destinations.aws import AwsClients
from roost.destinations.delivery import DestinationDelivery
from roost.destinations.outbox import OutboxSettings, ParkingDelivery
from roost.destinations.records import Condition, dead_letter_message
from roost.flow.circuit_breaker import BreakerBoard, BreakerSettings, BreakerState
from roost.store.memory.queues import MemoryQueueStore
from tests.destinations.conftest import FAST_RETRIES, MotoResources
from tests.destinations.test_delivery import EVENT, FAILURE, FAILURE_RECORD
from tests.fixtures.moto_server import MOTO_CREDENTIALS, MotoServer
from tests.fixtures.roost_process import free_port

BREAKERS = BreakerSettings(
    window_s=30.0,
    min_calls=4,
    consecutive_failures=3,
    cool_down_s=60.0,
    fleet_backoff_s=0.05,
    max_fleet_backoff_s=0.2,
)
OUTBOX = OutboxSettings(retry_delay_s=0.05, max_retry_delay_s=0.1, idle_poll_s=0.05)


class SwitchedClients(AwsClients):
    """AWS clients whose endpoint can be switched: down (a closed port), then back."""

    def __init__(self, down: AwsClients, up: AwsClients) -> None:
        self.current = down
        self._down, self._up = down, up

    def restore(self) -> None:
        self.current = self._up

    async def call(self, service: str, region: str, operation: str, **params: Any) -> Any:
        return await self.current.call(service, region, operation, **params)

    def close(self) -> None:
        self._down.close()
        self._up.close()


def parking(clients: AwsClients, board: BreakerBoard) -> tuple[ParkingDelivery, MemoryQueueStore]:
    queues = MemoryQueueStore()
    delivery = DestinationDelivery(clients, policy=FAST_RETRIES, breakers=board)
    return ParkingDelivery(delivery, queues, OUTBOX), queues


def bodies(moto: MotoResources, url: str) -> list[Any]:
    found: list[Any] = []
    while messages := moto.receive(url):
        found.extend(json.loads(m["Body"]) for m in messages)
        moto.sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
    return found


def test_a_deleted_queue_opens_only_its_own_breaker(
    aws_clients: AwsClients, moto: MotoResources
) -> None:
    # Given two destination queues, one of which is deleted
    sick_url, sick_arn = moto.queue()
    well_url, well_arn = moto.queue()
    moto.sqs.delete_queue(QueueUrl=sick_url)
    board = BreakerBoard("destination", BREAKERS)
    outbox, queues = parking(aws_clients, board)

    async def deliver() -> int:
        for _ in range(4):
            for arn in (sick_arn, well_arn):
                await outbox.send_record(arn, FAILURE_RECORD, Condition.RETRIES_EXHAUSTED)
        return (await queues.depth(OUTBOX.queue)).total

    # When records go to both, alternately
    parked = asyncio.run(deliver())

    # Then only the deleted queue's breaker opened; the other kept delivering
    assert board.state(sick_arn) is BreakerState.OPEN
    assert board.state(well_arn) is BreakerState.CLOSED
    assert not board.fleet_degraded
    assert board.opens_total == 1
    assert bodies(moto, well_url) == [FAILURE_RECORD] * 4
    # And the sick target's records wait in the outbox rather than being dropped
    assert parked == 4


def test_an_unreachable_endpoint_is_a_fleet_fault_and_nothing_is_lost(
    moto_server: MotoServer, moto: MotoResources
) -> None:
    # Given two queues behind an endpoint that is down (a closed port)
    first_url, first_arn = moto.queue()
    second_url, second_arn = moto.queue()
    session = boto3.session.Session(**MOTO_CREDENTIALS)
    down = AwsClients(f"http://127.0.0.1:{free_port()}", session=session, connect_timeout_s=0.2)
    clients = SwitchedClients(down, AwsClients(moto_server.endpoint, session=session))
    board = BreakerBoard("destination", BREAKERS)
    outbox, queues = parking(clients, board)
    message = dead_letter_message(EVENT, Condition.RETRIES_EXHAUSTED, FAILURE)

    async def scenario() -> tuple[bool, set[BreakerState], int, int]:
        # When records and dead letters go to both while it is down
        for _ in range(3):
            await outbox.send_record(first_arn, FAILURE_RECORD, Condition.RETRIES_EXHAUSTED)
            await outbox.send_dead_letter(second_arn, message)
        degraded, states = board.fleet_degraded, set(board.states().values())
        parked = (await queues.depth(OUTBOX.queue)).total
        # And the endpoint comes back while the outbox keeps redelivering
        clients.restore()
        for _ in range(200):
            await outbox.redeliver_once()
            if (await queues.depth(OUTBOX.queue)).total == 0:
                break
            await asyncio.sleep(0.02)
        return degraded, states, parked, (await queues.depth(OUTBOX.queue)).total

    try:
        degraded, states, parked, left = asyncio.run(scenario())
    finally:
        clients.close()

    # Then the outage was a fleet fault: no target evicted, everything parked
    assert degraded
    assert states == {BreakerState.CLOSED}
    assert parked == 6
    # And once it came back, every record and dead letter arrived; the fault ended
    assert left == 0
    assert not board.fleet_degraded
    assert bodies(moto, first_url) == [FAILURE_RECORD] * 3
    assert len(bodies(moto, second_url)) == 3
