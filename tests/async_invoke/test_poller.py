"""Async pollers over the in-memory queue store, with a scripted invoker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from roost.api.errors import ResourceNotFoundException, TooManyRequestsException
from roost.async_invoke.assignment import StaticAssignment
from roost.async_invoke.backlog import BacklogRecovery, BacklogSettings
from roost.async_invoke.backlog_ledger import BacklogLedger
from roost.async_invoke.depth import DepthGauge
from roost.async_invoke.event import AsyncEvent, encode
from roost.async_invoke.outcome import InvokeResult
from roost.async_invoke.poller import AsyncPoller
from roost.async_invoke.poller_deps import PollerDeps, PollerSettings
from roost.async_invoke.retry import Condition, RetryLimits, RetryPolicy
from roost.flow.adaptive_semaphore import AdaptiveSemaphore
from roost.loop_guard import FAILURES
from roost.store.errors import StoreUnavailable
from roost.store.memory import MemoryQueueStore
from roost.store.ports import ReceivedMessage

QUEUE = "async-000"
OK = InvokeResult(200, b'"ok"', None, "$LATEST")
BOOM = InvokeResult(200, b'{"errorMessage": "boom"}', "Unhandled", "$LATEST")
Step = Callable[[AsyncEvent], InvokeResult]


def ok(event: AsyncEvent) -> InvokeResult:
    return OK


def boom(event: AsyncEvent) -> InvokeResult:
    return BOOM


def throttled(event: AsyncEvent) -> InvokeResult:
    raise TooManyRequestsException("Rate Exceeded.")


def gone(event: AsyncEvent) -> InvokeResult:
    raise ResourceNotFoundException("Function not found")


@dataclass
class ScriptedInvoker:
    """Runs the steps in order (the last one repeats); records each attempt."""

    steps: list[Step]
    seen: list[AsyncEvent] = field(default_factory=list)

    async def invoke(self, event: AsyncEvent) -> InvokeResult:
        self.seen.append(event)
        step = self.steps[min(len(self.seen), len(self.steps)) - 1]
        return step(event)


@dataclass
class CountingInvoker:
    """Succeeds after ``seconds``; counts the most attempts running at once."""

    seconds: float
    running: int = 0
    peak: int = 0

    async def invoke(self, event: AsyncEvent) -> InvokeResult:
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(self.seconds)
        self.running -= 1
        return OK


@dataclass
class FixedLimits:
    value: RetryLimits = field(default_factory=RetryLimits)

    async def limits(self, event: AsyncEvent) -> RetryLimits:
        return self.value


@dataclass
class RecordingSink:
    succeeded_events: list[AsyncEvent] = field(default_factory=list)
    failed_events: list[tuple[AsyncEvent, Condition, InvokeResult | None]] = field(
        default_factory=list
    )
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def succeeded(self, event: AsyncEvent, result: InvokeResult) -> None:
        self.succeeded_events.append(event)
        self.done.set()

    async def failed(
        self, event: AsyncEvent, condition: Condition, result: InvokeResult | None
    ) -> None:
        self.failed_events.append((event, condition, result))
        self.done.set()


def event(age_s: float = 0.0) -> AsyncEvent:
    """An event accepted ``age_s`` ago."""
    received_at_ms = int((time.time() - age_s) * 1000)
    return AsyncEvent("rid-1", "000000000000", "us-east-1", "fn", None, b"{}", received_at_ms)


async def run_poller(
    invoker: ScriptedInvoker,
    limits: RetryLimits,
    until: Callable[[RecordingSink, MemoryQueueStore], Awaitable[None]],
    *,
    queued: AsyncEvent | None = None,
) -> tuple[RecordingSink, MemoryQueueStore]:
    """Queue one event, poll until ``until`` returns, stop; the sink and the store."""
    store = MemoryQueueStore()
    sink = RecordingSink()
    deps = PollerDeps(
        queues=store,
        assignment=StaticAssignment([QUEUE], ["p0"]),
        invoker=invoker,
        limits=FixedLimits(limits),
        policy=RetryPolicy(scale=0.001),
        sink=sink,
        gauge=DepthGauge(store, [QUEUE]),
    )
    poller = AsyncPoller("p0", deps, PollerSettings(visibility_timeout_s=5, wait_s=0.2))
    await store.send(QUEUE, encode(queued or event()))
    poller.start()
    try:
        await asyncio.wait_for(until(sink, store), 10)
    finally:
        await poller.stop(grace_s=1)
    return sink, store


def single_poller(
    store: MemoryQueueStore,
    sink: RecordingSink,
    invoker: Any,
    *,
    limits: Any = None,
    visibility_timeout_s: float = 5,
    **parts: Any,
) -> AsyncPoller:
    """One poller of ``QUEUE`` over ``store``, with the parts a test gives it."""
    deps = PollerDeps(
        queues=store,
        assignment=StaticAssignment([QUEUE], ["p0"]),
        invoker=invoker,
        limits=limits or FixedLimits(RetryLimits()),
        policy=RetryPolicy(scale=0.001),
        sink=sink,
        gauge=DepthGauge(store, [QUEUE]),
        **parts,
    )
    settings = PollerSettings(visibility_timeout_s=visibility_timeout_s, wait_s=0.2)
    return AsyncPoller("p0", deps, settings)


async def until_reported(
    poller: AsyncPoller, store: MemoryQueueStore, sink: RecordingSink, queued: AsyncEvent
) -> None:
    """Queue ``queued``, run ``poller`` until ``sink`` hears of an outcome, stop it."""
    await store.send(QUEUE, encode(queued))
    poller.start()
    try:
        await asyncio.wait_for(sink.done.wait(), 10)
    finally:
        await poller.stop(grace_s=1)


async def outcome(sink: RecordingSink, store: MemoryQueueStore) -> None:
    await sink.done.wait()
    await asyncio.sleep(0.05)  # let the poller delete the message


def test_a_successful_event_is_reported_and_deleted() -> None:
    invoker = ScriptedInvoker([ok])

    sink, store = asyncio.run(run_poller(invoker, RetryLimits(), outcome))

    assert [e.invoke_count for e in sink.succeeded_events] == [1]
    assert asyncio.run(store.queues()) == []


def test_function_errors_run_one_plus_maximum_retry_attempts_times() -> None:
    for retries in (0, 1, 2):
        invoker = ScriptedInvoker([boom])

        sink, _ = asyncio.run(
            run_poller(invoker, RetryLimits(maximum_retry_attempts=retries), outcome)
        )

        assert len(invoker.seen) == 1 + retries
        [(failed, condition, result)] = sink.failed_events
        assert condition is Condition.RETRIES_EXHAUSTED
        assert failed.invoke_count == 1 + retries
        assert result == BOOM
        assert [e.invoke_count for e in invoker.seen] == list(range(retries + 1))


def test_a_retry_that_succeeds_counts_every_invoke() -> None:
    invoker = ScriptedInvoker([boom, ok])

    sink, _ = asyncio.run(run_poller(invoker, RetryLimits(), outcome))

    assert [e.invoke_count for e in sink.succeeded_events] == [2]


def test_throttles_are_retried_without_using_up_attempts() -> None:
    invoker = ScriptedInvoker([throttled, throttled, throttled, ok])

    sink, _ = asyncio.run(run_poller(invoker, RetryLimits(maximum_retry_attempts=0), outcome))

    assert len(invoker.seen) == 4
    assert [e.invoke_count for e in sink.succeeded_events] == [1]


def test_an_event_older_than_its_maximum_age_is_never_run() -> None:
    invoker = ScriptedInvoker([ok])
    stale = event(age_s=61)

    sink, _ = asyncio.run(
        run_poller(invoker, RetryLimits(maximum_event_age_s=60), outcome, queued=stale)
    )

    assert invoker.seen == []
    assert [(c, r) for _, c, r in sink.failed_events] == [(Condition.EVENT_AGE_EXCEEDED, None)]


def test_an_event_of_a_deleted_function_is_dropped() -> None:
    invoker = ScriptedInvoker([gone])

    async def drained(sink: RecordingSink, store: MemoryQueueStore) -> None:
        while await store.queues() or not invoker.seen:
            await asyncio.sleep(0.01)

    sink, _ = asyncio.run(run_poller(invoker, RetryLimits(), drained))

    assert len(invoker.seen) == 1
    assert sink.failed_events == [] and sink.succeeded_events == []


def test_a_backlog_is_drained_in_batches_within_the_concurrency() -> None:
    async def scenario() -> tuple[int, int]:
        store = MemoryQueueStore()
        invoker = CountingInvoker(0.01)
        sink = RecordingSink()
        deps = PollerDeps(
            queues=store,
            assignment=StaticAssignment([QUEUE], ["p0"]),
            invoker=invoker,
            limits=FixedLimits(),
            policy=RetryPolicy(scale=0.001),
            sink=sink,
            gauge=DepthGauge(store, [QUEUE]),
        )
        settings = PollerSettings(concurrency=4, visibility_timeout_s=5, wait_s=0.2)
        poller = AsyncPoller("p0", deps, settings)
        await store.send_batch(QUEUE, [encode(event()) for _ in range(25)])
        poller.start()
        while len(sink.succeeded_events) < 25:
            await asyncio.sleep(0.01)
        await poller.stop(grace_s=1)
        return len(sink.succeeded_events), invoker.peak

    succeeded, peak = asyncio.run(asyncio.wait_for(scenario(), 10))

    assert succeeded == 25
    assert 1 < peak <= 4


def test_empty_queues_do_not_hold_the_slots_a_busy_one_needs() -> None:
    async def scenario() -> int:
        store = MemoryQueueStore()
        queues = [f"async-{n:03d}" for n in range(8)]
        sink = RecordingSink()
        deps = PollerDeps(
            queues=store,
            assignment=StaticAssignment(queues, ["p0"]),
            invoker=ScriptedInvoker([ok]),
            limits=FixedLimits(),
            policy=RetryPolicy(scale=0.001),
            sink=sink,
            gauge=DepthGauge(store, queues),
        )
        # Fewer slots than queues, and long waits on the empty ones: a loop
        # waiting on an empty queue must not sit on a slot.
        settings = PollerSettings(concurrency=2, visibility_timeout_s=5, wait_s=30)
        poller = AsyncPoller("p0", deps, settings)
        poller.start()
        await asyncio.sleep(0.1)  # every queue's loop is waiting now
        await store.send_batch(queues[-1], [encode(event()) for _ in range(20)])
        while len(sink.succeeded_events) < 20:
            await asyncio.sleep(0.01)
        await poller.stop(grace_s=1)
        return len(sink.succeeded_events)

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == 20


def test_the_nodes_gate_bounds_events_running_across_all_pollers() -> None:
    async def scenario() -> tuple[int, int]:
        store = MemoryQueueStore()
        queues = ["async-000", "async-001"]
        invoker = CountingInvoker(0.005)
        sink = RecordingSink()
        deps = PollerDeps(
            queues=store,
            assignment=StaticAssignment(queues, ["p0", "p1"]),
            invoker=invoker,
            limits=FixedLimits(),
            policy=RetryPolicy(scale=0.001),
            sink=sink,
            gauge=DepthGauge(store, queues),
            gate=AdaptiveSemaphore(lambda: 3),
        )
        settings = PollerSettings(concurrency=8, visibility_timeout_s=5, wait_s=0.2)
        pollers = [AsyncPoller(pid, deps, settings) for pid in ("p0", "p1")]
        for queue in queues:
            await store.send_batch(queue, [encode(event()) for _ in range(20)])
        for poller in pollers:
            poller.start()
        while len(sink.succeeded_events) < 40:
            await asyncio.sleep(0.01)
        for poller in pollers:
            await poller.stop(grace_s=1)
        return len(sink.succeeded_events), invoker.peak

    succeeded, peak = asyncio.run(asyncio.wait_for(scenario(), 10))

    # Two pollers with 8 slots each, but never more than the node's 3 at once.
    assert succeeded == 40
    assert peak == 3


class BreaksOnceStore(MemoryQueueStore):
    """A queue store whose first receive fails with an error nobody expects."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    async def receive(self, queue: str, **kwargs: Any) -> list[ReceivedMessage]:
        if self.broken:
            self.broken = False
            raise RuntimeError("a bug in the receive path")
        return await super().receive(queue, **kwargs)


def test_an_unexpected_error_does_not_stop_a_queue_being_polled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The poller holds the queue's lease: it logs the error and polls the queue again,
    so the acknowledged event still runs (a polling task that died kept the lease)."""

    async def scenario() -> RecordingSink:
        store, sink = BreaksOnceStore(), RecordingSink()
        poller = single_poller(store, sink, ScriptedInvoker([ok]))
        await until_reported(poller, store, sink, event())
        return sink

    before = FAILURES.by_kind().get("async poller queue loop", 0)
    sink = asyncio.run(scenario())

    assert [e.invoke_count for e in sink.succeeded_events] == [1]
    assert "poller p0 polling async-000 failed unexpectedly" in caplog.text
    # ... and counts it where /metrics reads it (roost_loop_failures_total).
    assert FAILURES.by_kind()["async poller queue loop"] == before + 1


@dataclass
class LimitsUnreadableOnce:
    """Retry limits from a store that fails the first read."""

    reads: int = 0

    async def limits(self, event: AsyncEvent) -> RetryLimits:
        self.reads += 1
        if self.reads == 1:
            raise StoreUnavailable("config store unreachable")
        return RetryLimits()


def test_an_event_whose_settling_fails_comes_back_instead_of_staying_hidden() -> None:
    """An event older than a minute needs its retry limits to be judged; when they
    cannot be read, the event must come back once its visibility timeout ends (it had
    been kept hidden for as long as the poller ran, never run, never expired)."""

    async def scenario() -> tuple[RecordingSink, LimitsUnreadableOnce]:
        store, sink, limits = MemoryQueueStore(), RecordingSink(), LimitsUnreadableOnce()
        invoker = ScriptedInvoker([ok])
        poller = single_poller(store, sink, invoker, limits=limits, visibility_timeout_s=0.6)
        await until_reported(poller, store, sink, event(age_s=90))
        return sink, limits

    sink, limits = asyncio.run(scenario())

    assert [e.invoke_count for e in sink.succeeded_events] == [1]
    assert limits.reads >= 2


class SinkOutOfReachOnce(RecordingSink):
    """A sink whose store is out the first time an outcome is reported."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def succeeded(self, event: AsyncEvent, result: InvokeResult) -> None:
        if not self.refused:
            self.refused += 1
            raise StoreUnavailable("config store unreachable")
        await super().succeeded(event, result)


def test_an_outcome_that_cannot_be_reported_keeps_the_event() -> None:
    """The sink could not read where the outcome goes: the event is not deleted, it
    comes back and runs again (at least once) rather than vanishing unreported."""

    async def scenario() -> tuple[SinkOutOfReachOnce, ScriptedInvoker]:
        store, sink, invoker = MemoryQueueStore(), SinkOutOfReachOnce(), ScriptedInvoker([ok])
        poller = single_poller(store, sink, invoker, visibility_timeout_s=0.6)
        await until_reported(poller, store, sink, event())
        return sink, invoker

    sink, invoker = asyncio.run(scenario())

    assert sink.refused == 1
    assert len(sink.succeeded_events) == 1
    assert len(invoker.seen) == 2


def test_an_event_dropped_with_its_function_leaves_the_backlog_ledger() -> None:
    """The ledger counts events per tenant to open backlog shards; a dropped event
    reaches no sink (which settles the others there), so the poller settles it."""

    async def scenario() -> BacklogLedger:
        store, sink = MemoryQueueStore(), RecordingSink()
        ledger = BacklogLedger(lambda: int(time.time() * 1000))
        backlog = BacklogRecovery(BacklogSettings(lifo=False), ledger)
        poller = single_poller(store, sink, ScriptedInvoker([gone]), backlog=backlog)
        await store.send(QUEUE, encode(event()))
        poller.start()
        try:
            while (await store.depth(QUEUE)).total:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.05)
        finally:
            await poller.stop(grace_s=1)
        return ledger

    ledger = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert ledger.figures() == {}


def test_an_event_stays_hidden_while_its_outcome_is_delivered_however_long() -> None:
    # Given a destination that takes three visibility timeouts to take the outcome
    # (a slow target, retried), and a second poller of the same queue
    @dataclass
    class SlowSink(RecordingSink):
        async def succeeded(self, event: AsyncEvent, result: InvokeResult) -> None:
            await asyncio.sleep(1.8)
            await super().succeeded(event, result)

    async def main() -> tuple[int, int]:
        store, sink, invoker = MemoryQueueStore(), SlowSink(), ScriptedInvoker([ok])
        first = single_poller(store, sink, invoker, visibility_timeout_s=0.6)
        second = single_poller(store, sink, invoker, visibility_timeout_s=0.6)
        await store.send(QUEUE, encode(event()))
        first.start()
        while not invoker.seen:
            await asyncio.sleep(0.01)
        second.start()
        try:
            await asyncio.wait_for(sink.done.wait(), 10)
            await asyncio.sleep(1.0)  # what another receive would have run by now
        finally:
            await asyncio.gather(first.stop(grace_s=1), second.stop(grace_s=1))
        return len(invoker.seen), len(sink.succeeded_events)

    # Then it ran once and its outcome was delivered once
    assert asyncio.run(main()) == (1, 1)
