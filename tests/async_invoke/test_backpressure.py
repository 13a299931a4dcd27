"""Async pollers under host pressure, over the in-memory queue store: nothing new is
received while the host is critical (and nothing is lost), and retries and old
backlog give way to fresh events while it is elevated."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

from roost.async_invoke.assignment import StaticAssignment
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import AsyncEvent, encode
from roost.async_invoke.outcome import InvokeResult
from roost.async_invoke.poller import AsyncPoller
from roost.async_invoke.poller_deps import PollerDeps, PollerSettings
from roost.async_invoke.retry import RetryPolicy
from roost.flow.backpressure import (
    ASYNC_LOW_PRIORITY,
    ASYNC_RECEIVE,
    BackpressureSettings,
    HostPressure,
    PressureReading,
)
from roost.store.memory import MemoryQueueStore
from tests.async_invoke.test_poller import OK, FixedLimits, RecordingSink
from tests.async_invoke.test_tenant_deferral import QUEUE, an_event

CRITICAL = PressureReading(slots=1.0)
ELEVATED = PressureReading(slots=0.85)
CALM = PressureReading()


@dataclass
class Readings:
    now: PressureReading = field(default_factory=PressureReading)

    def read(self) -> PressureReading:
        return self.now


@dataclass
class Invoker:
    started: list[str] = field(default_factory=list)

    async def invoke(self, event: AsyncEvent) -> InvokeResult:
        self.started.append(event.request_id)
        return OK


def host(settings: BackpressureSettings | None = None) -> tuple[HostPressure, Readings]:
    readings = Readings()
    settings = settings or BackpressureSettings(interval_s=0.02, shed_delay_s=0.2)
    return HostPressure(settings, readings), readings


def poller(store: MemoryQueueStore, invoker: Invoker, pressure: HostPressure) -> AsyncPoller:
    deps = PollerDeps(
        queues=store,
        assignment=StaticAssignment([QUEUE], ["p0"]),
        invoker=invoker,
        limits=FixedLimits(),
        policy=RetryPolicy(scale=0.001),
        sink=RecordingSink(),
        gauge=DepthGauge(store, [QUEUE]),
        pressure=pressure,
    )
    return AsyncPoller(
        "p0", deps, PollerSettings(concurrency=8, visibility_timeout_s=5, wait_s=0.05)
    )


async def until(condition: object, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


def test_nothing_is_received_while_critical_and_everything_runs_after() -> None:
    async def scenario() -> None:
        # Given a critical host and 20 queued events
        store, invoker = MemoryQueueStore(), Invoker()
        pressure, readings = host()
        readings.now = CRITICAL
        pressure.sample()
        for index in range(20):
            await store.send(QUEUE, encode(an_event("f", index)))
        subject = poller(store, invoker, pressure)
        pressure.start()
        subject.start()
        try:
            # When the pollers run for a while: nothing is started, all still queued
            await asyncio.sleep(0.3)
            assert invoker.started == []
            assert (await store.depth(QUEUE)).visible == 20
            assert pressure.deferred[ASYNC_RECEIVE] >= 1
            # Then once the pressure drops, every event runs once
            readings.now = CALM
            await until(lambda: len(invoker.started) == 20)
            for _ in range(100):  # each deleted once it ran
                if (await store.depth(QUEUE)).total == 0:
                    break
                await asyncio.sleep(0.01)
            assert (await store.depth(QUEUE)).total == 0
        finally:
            await subject.stop(1)
            await pressure.stop()
        assert sorted(invoker.started) == sorted(f"f-{i}" for i in range(20))

    asyncio.run(scenario())


def test_a_long_poll_that_ends_after_the_host_turned_critical_puts_its_haul_back() -> None:
    async def scenario() -> None:
        store, invoker = MemoryQueueStore(), Invoker()
        pressure, readings = host()
        subject = poller(store, invoker, pressure)
        subject.start()
        try:
            await asyncio.sleep(0.02)  # the poller waits on the empty queue
            readings.now = CRITICAL
            pressure.sample()
            await store.send(QUEUE, encode(an_event("f", 1)))
            await asyncio.sleep(0.2)
            assert invoker.started == []
            readings.now = CALM
            pressure.sample()
            await until(lambda: invoker.started == ["f-1"])
        finally:
            await subject.stop(1)

    asyncio.run(scenario())


def test_retries_and_old_backlog_give_way_to_fresh_events_while_elevated() -> None:
    async def scenario() -> None:
        # Given an elevated host, a retry and an hour-old event queued before 3 fresh ones
        store, invoker = MemoryQueueStore(), Invoker()
        pressure, readings = host()
        readings.now = ELEVATED
        pressure.sample()
        retry = dataclasses.replace(an_event("retry", 0), invoke_count=1)
        old = an_event("old", 0)
        old = dataclasses.replace(old, received_at_ms=old.received_at_ms - 3_600_000)
        for event in [retry, old, *(an_event("fresh", i) for i in range(3))]:
            await store.send(QUEUE, encode(event))
        subject = poller(store, invoker, pressure)
        subject.start()
        try:
            # Then the fresh events run first, and the put-back ones still run
            await until(lambda: len(invoker.started) == 5)
        finally:
            await subject.stop(1)
        assert set(invoker.started[:3]) == {"fresh-0", "fresh-1", "fresh-2"}
        assert set(invoker.started[3:]) == {"retry-0", "old-0"}
        assert pressure.deferred[ASYNC_LOW_PRIORITY] >= 2

    asyncio.run(scenario())


def test_low_priority_events_are_put_back_a_bounded_number_of_times() -> None:
    async def scenario() -> None:
        # Given a host that stays elevated, and only a retry queued
        store, invoker = MemoryQueueStore(), Invoker()
        settings = BackpressureSettings(interval_s=0.02, shed_delay_s=0.05, max_sheds=2)
        pressure, readings = host(settings)
        readings.now = ELEVATED
        pressure.sample()
        await store.send(QUEUE, encode(dataclasses.replace(an_event("retry", 0), invoke_count=1)))
        subject = poller(store, invoker, pressure)
        subject.start()
        try:
            # Then it runs after being put back max_sheds times: it does not starve
            await until(lambda: invoker.started == ["retry-0"])
        finally:
            await subject.stop(1)
        assert pressure.deferred[ASYNC_LOW_PRIORITY] == 2

    asyncio.run(scenario())
