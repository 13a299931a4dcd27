"""ESM pollers under host pressure and behind event source circuit breakers, over
fake queues: fewer batches and slower polls when the host is pressed; a failing
endpoint's breaker opens and pauses its polls; a fleet-wide fault opens none."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

from roost.esm.connector import SourceRecord
from roost.esm.health import PollerHealth
from roost.esm.load_shedder import LoadShedder
from roost.esm.mapping import EventSource
from roost.esm.poll_guard import PollGuard
from roost.esm.runner import MappingRunner
from roost.esm.sources import SourceType
from roost.flow.backpressure import (
    ESM_POLL,
    BackpressureSettings,
    HostPressure,
    PressureReading,
)
from roost.flow.circuit_breaker import BreakerBoard, BreakerSettings, BreakerState
from tests.esm.support import FakeConnector, mapping, record
from tests.esm.test_runner import SETTINGS, SlowInvoker, deps, until


@dataclass
class Readings:
    now: PressureReading = field(default_factory=PressureReading)

    def read(self) -> PressureReading:
        return self.now


def pressed(reading: PressureReading, **settings: float) -> HostPressure:
    pressure = HostPressure(BackpressureSettings(**settings), Readings(reading))  # type: ignore[arg-type]
    pressure.sample()
    return pressure


class FailingConnector(FakeConnector):
    """A queue whose polls fail while ``failing`` (a deleted queue, an endpoint down)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = True
        self.polls = 0

    async def poll(self, max_records: int, wait_s: float) -> list[SourceRecord]:
        self.polls += 1
        if self.failing:
            raise RuntimeError("AWS.SimpleQueueService.NonExistentQueue")
        return await super().poll(max_records, wait_s)


def test_a_critical_host_cuts_each_mapping_to_its_minimum() -> None:
    health = PollerHealth()
    calm = LoadShedder(health, pressure=pressed(PressureReading()))
    assert calm.limit(8, floor=2) == 8
    critical = LoadShedder(health, pressure=pressed(PressureReading(memory=1.0)))
    assert critical.limit(8, floor=2) == 2
    assert critical.limit(1, floor=1) == 1
    # Elevated does not cut concurrency: it paces the polls instead
    elevated = LoadShedder(health, pressure=pressed(PressureReading(memory=0.85)))
    assert elevated.limit(8, floor=2) == 8


def test_the_guard_pauses_each_poll_while_the_host_is_pressed() -> None:
    async def scenario() -> None:
        pressure = pressed(PressureReading(slots=0.85), elevated_pause_s=0.05)
        guard = PollGuard("arn:q", pressure=pressure)
        started = asyncio.get_running_loop().time()
        for _ in range(3):
            assert await guard.admit()
        assert asyncio.get_running_loop().time() - started >= 0.15
        assert pressure.deferred[ESM_POLL] == 3

    asyncio.run(scenario())


def test_a_runner_under_a_critical_host_runs_at_its_floor_and_still_drains() -> None:
    async def scenario() -> None:
        connector, invoker = FakeConnector(), SlowInvoker()
        connector.feed([record(f"r{i}") for i in range(20)])
        pressure = pressed(PressureReading(slots=1.0), critical_pause_s=0.01)
        runner_deps = deps(invoker)
        runner_deps = dataclasses.replace(
            runner_deps, shedder=LoadShedder(runner_deps.poller_health, pressure=pressure)
        )
        runner = MappingRunner(mapping(batch_size=1), connector, runner_deps, SETTINGS)
        await runner.start()
        await until(lambda: len(connector.committed) == 20)
        await runner.stop()
        assert invoker.peak <= runner.autoscaler.limits.floor
        assert pressure.deferred[ESM_POLL] > 0

    asyncio.run(scenario())


BREAKERS = BreakerSettings(consecutive_failures=3, cool_down_s=0.3, fleet_backoff_s=0.05)


def test_a_failing_queue_opens_its_breaker_and_its_polls_pause_until_the_probe() -> None:
    async def scenario() -> None:
        # Given a mapping whose queue fails every poll, and a healthy one
        board = BreakerBoard("event_source", BREAKERS)
        sick, well = FailingConnector(), FakeConnector()
        runner_deps = dataclasses.replace(deps(SlowInvoker()), breakers=board)
        settings = dataclasses.replace(SETTINGS, poll_error_retry_s=0.01)
        sick_mapping = mapping("sick")
        well_source = EventSource(SourceType.SQS, "arn:aws:sqs:us-east-1:000000000000:well")
        well_mapping = dataclasses.replace(mapping("well"), source=well_source)
        runners = [
            MappingRunner(sick_mapping, sick, runner_deps, settings),
            MappingRunner(well_mapping, well, runner_deps, settings),
        ]
        for runner in runners:
            await runner.start()
        try:
            # When the failures pile up: only the sick queue's breaker opens
            sick_arn = sick_mapping.source.key
            await until(lambda: board.state(sick_arn) is BreakerState.OPEN)
            assert board.state(well_source.key) is BreakerState.CLOSED
            assert not board.fleet_degraded
            # Then its polls pause while open (no hammering), the other mapping works
            polls = sick.polls
            well.feed([record(f"w{i}") for i in range(5)])
            await until(lambda: len(well.committed) == 5)
            await asyncio.sleep(0.15)
            assert sick.polls - polls <= 1
            # And once the queue is back, the half-open probe closes the breaker
            sick.failing = False
            await until(lambda: board.state(sick_arn) is BreakerState.CLOSED)
            sick.feed([record("s1")])
            await until(lambda: sick.committed == ["s1"])
        finally:
            for runner in runners:
                await runner.stop()

    asyncio.run(scenario())


def test_every_endpoint_failing_backs_off_uniformly_and_evicts_none() -> None:
    async def scenario() -> None:
        board = BreakerBoard("event_source", BREAKERS)
        connectors = [FailingConnector() for _ in range(3)]
        runner_deps = dataclasses.replace(deps(SlowInvoker()), breakers=board)
        settings = dataclasses.replace(SETTINGS, poll_error_retry_s=0.01)
        runners = []
        for index, connector in enumerate(connectors):
            source = EventSource(SourceType.SQS, f"arn:aws:sqs:us-east-1:000000000000:q{index}")
            item = dataclasses.replace(mapping(f"m{index}"), source=source)
            runners.append(MappingRunner(item, connector, runner_deps, settings))
        for runner in runners:
            await runner.start()
        try:
            await until(lambda: board.fleet_degraded)
            await asyncio.sleep(0.2)
            assert all(state is BreakerState.CLOSED for state in board.states().values())
            # The endpoint comes back: the first success ends the fleet fault
            for connector in connectors:
                connector.failing = False
            await until(lambda: not board.fleet_degraded)
            connectors[2].feed([record("x")])
            await until(lambda: connectors[2].committed == ["x"])
        finally:
            for runner in runners:
                await runner.stop()

    asyncio.run(scenario())
