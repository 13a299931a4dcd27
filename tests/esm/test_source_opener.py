"""A mapping's first connections to its source report to the event-sources breakers."""

from __future__ import annotations

import asyncio

from roost.esm.source_opener import SourceOpener
from roost.flow.circuit_breaker import SOURCE_BREAKERS, BreakerBoard, BreakerSettings, BreakerState

ENDPOINT = "arn:aws:sqs:us-east-1:000000000000:gone"
SETTINGS = BreakerSettings(consecutive_failures=2, cool_down_s=60.0)


class Source:
    """Fails to open ``failures`` times, then opens."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0

    async def open(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("queue does not exist")


def _opener(source: Source, board: BreakerBoard | None) -> SourceOpener:
    return SourceOpener(
        "uuid-1", source.open, lambda: None, 0.001, 0.002, breakers=board, endpoint=ENDPOINT
    )


def test_failed_opens_trip_the_endpoints_breaker_and_are_then_held_back() -> None:
    async def scenario() -> None:
        # Given a source that never opens, and a board tripping after two failures
        board = BreakerBoard(SOURCE_BREAKERS, SETTINGS)
        source = Source(failures=10**6)
        opener = _opener(source, board)
        # When the opener runs for a while
        task = asyncio.create_task(opener.run())
        await asyncio.sleep(0.1)
        task.cancel()
        # Then its failures opened the breaker, after which no attempt reached the source
        assert board.state(ENDPOINT) is BreakerState.OPEN
        assert source.attempts == 2
        assert opener.error == "PROBLEM: queue does not exist"

    asyncio.run(scenario())


def test_a_successful_open_is_reported_and_ends_the_retries() -> None:
    async def scenario() -> None:
        board = BreakerBoard(SOURCE_BREAKERS, SETTINGS)
        source = Source(failures=1)
        opener = _opener(source, board)
        await asyncio.wait_for(opener.run(), 5)
        assert source.attempts == 2 and opener.error is None
        assert board.state(ENDPOINT) is BreakerState.CLOSED
        assert board.breaker(ENDPOINT).failure_rate() == (2, 0.5)

    asyncio.run(scenario())


def test_without_a_board_the_opener_retries_on_its_own() -> None:
    async def scenario() -> None:
        source = Source(failures=3)
        await asyncio.wait_for(_opener(source, None).run(), 5)
        assert source.attempts == 4

    asyncio.run(scenario())
