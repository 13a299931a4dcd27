"""Unit tests of backlog recovery: the per-queue mode, the receive plan, the FIFO
opt-out, the per-shard ledger, and pollers serving fresh events first."""

from __future__ import annotations

import asyncio

import pytest

from roost.async_invoke.backlog import (
    BacklogMode,
    BacklogRecovery,
    BacklogSettings,
    ReceivePart,
)
from roost.async_invoke.backlog_ledger import BacklogLedger, LedgerSink, ShardFigures, ShardKey
from roost.async_invoke.event import AsyncEvent
from roost.async_invoke.outcome import InvokeResult, LoggingOutcomeSink
from roost.async_invoke.retry import Condition
from roost.observability.node_metrics import backlog_families
from roost.observability.prometheus import render
from roost.store.memory import MemoryQueueStore
from roost.store.ports import ReceiveOrder

Q = "async-000"
NEWEST, OLDEST = ReceiveOrder.NEWEST_FIRST, ReceiveOrder.OLDEST_FIRST


class Clock:
    def __init__(self) -> None:
        self.now_ms = 1_000_000

    def __call__(self) -> int:
        return self.now_ms


class Preference:
    def __init__(self, fifo: set[str]) -> None:
        self.fifo = fifo
        self.asked = 0

    async def wants_fifo(self, account_id: str, function_name: str) -> bool:
        self.asked += 1
        return function_name in self.fifo


def event(
    request_id: str, function: str = "f", qualifier: str | None = None, at_ms: int = 1_000_000
) -> AsyncEvent:
    return AsyncEvent(request_id, "111", "us-east-1", function, qualifier, b"{}", at_ms)


def recovery(
    clock: Clock, preference: Preference | None = None, **settings: object
) -> BacklogRecovery:
    return BacklogRecovery(
        BacklogSettings(**settings),  # type: ignore[arg-type]
        BacklogLedger(clock),
        preference,
        clock,
    )


# The mode


def test_a_queue_enters_backlog_when_its_oldest_message_is_too_old() -> None:
    backlog = recovery(Clock(), age_threshold_s=30)

    assert backlog.observe(Q, depth=5, oldest_age_s=29) is BacklogMode.NORMAL
    assert backlog.observe(Q, depth=5, oldest_age_s=31) is BacklogMode.BACKLOG
    assert backlog.lifo(Q)


def test_a_queue_enters_backlog_when_far_deeper_than_the_pollers_drain() -> None:
    backlog = recovery(Clock(), min_depth=100, depth_factor=10)
    backlog.received(Q, 50)  # 50 per interval: 500 is ten intervals' worth
    assert backlog.observe(Q, depth=400, oldest_age_s=1) is BacklogMode.NORMAL

    backlog.received(Q, 50)
    assert backlog.observe(Q, depth=600, oldest_age_s=1) is BacklogMode.BACKLOG


def test_a_shallow_queue_is_never_in_backlog_whatever_the_drain() -> None:
    backlog = recovery(Clock(), min_depth=100)

    assert backlog.observe(Q, depth=99, oldest_age_s=0) is BacklogMode.NORMAL


def test_a_queue_leaves_backlog_only_below_half_of_both_thresholds() -> None:
    backlog = recovery(Clock(), min_depth=100, age_threshold_s=30)
    backlog.observe(Q, depth=1000, oldest_age_s=60)

    assert backlog.observe(Q, depth=60, oldest_age_s=10) is BacklogMode.BACKLOG  # depth
    assert backlog.observe(Q, depth=10, oldest_age_s=20) is BacklogMode.BACKLOG  # age
    assert backlog.observe(Q, depth=10, oldest_age_s=10) is BacklogMode.NORMAL
    assert backlog.observe(Q, depth=0, oldest_age_s=None) is BacklogMode.NORMAL


# The plan


def test_a_normal_queue_receives_oldest_first_only() -> None:
    backlog = recovery(Clock())

    assert backlog.plan(Q, 10) == [ReceivePart(OLDEST, 10)]


def test_a_queue_in_backlog_takes_a_share_newest_first_and_the_rest_oldest_first() -> None:
    backlog = recovery(Clock(), newest_share=0.3)
    backlog.observe(Q, depth=10_000, oldest_age_s=100)

    assert backlog.plan(Q, 10) == [ReceivePart(NEWEST, 3), ReceivePart(OLDEST, 7)]


def test_one_message_receives_alternate_so_neither_end_starves() -> None:
    backlog = recovery(Clock(), newest_share=0.5)
    backlog.observe(Q, depth=10_000, oldest_age_s=100)

    orders = [backlog.plan(Q, 1)[0].order for _ in range(6)]

    assert orders.count(NEWEST) == 3
    assert orders.count(OLDEST) == 3


def test_lifo_off_keeps_a_backlogged_queue_oldest_first() -> None:
    backlog = recovery(Clock(), lifo=False)
    backlog.observe(Q, depth=10_000, oldest_age_s=100)

    assert backlog.mode(Q) is BacklogMode.BACKLOG
    assert not backlog.lifo(Q)
    assert backlog.plan(Q, 4) == [ReceivePart(OLDEST, 4)]


def test_an_event_of_a_fifo_function_pins_its_queue_oldest_first_for_a_while() -> None:
    clock = Clock()
    preference = Preference({"ordered"})
    backlog = recovery(clock, preference, fifo_pin_s=60, order_refresh_s=5)
    backlog.observe(Q, depth=10_000, oldest_age_s=100)

    asyncio.run(backlog.seen(Q, event("a", "unordered")))
    assert backlog.lifo(Q)
    asyncio.run(backlog.seen(Q, event("b", "ordered")))
    asyncio.run(backlog.seen(Q, event("c", "ordered")))

    assert not backlog.lifo(Q)
    assert backlog.plan(Q, 4) == [ReceivePart(OLDEST, 4)]
    assert preference.asked == 2  # The answer is cached per function.
    clock.now_ms += 61_000
    assert backlog.lifo(Q)


# The ledger


def test_the_ledger_counts_each_shard_and_ages_its_oldest_event() -> None:
    clock = Clock()
    ledger = BacklogLedger(clock)
    ledger.add(event("a", at_ms=clock.now_ms))
    ledger.add(event("a", at_ms=clock.now_ms))  # Seen again by a poller: once.
    ledger.add(event("b", qualifier="live", at_ms=clock.now_ms + 1000))
    ledger.add(event("c", at_ms=clock.now_ms + 2000))
    ledger.add(event("d", at_ms=clock.now_ms - 5000))  # Learnt late, older.
    clock.now_ms += 10_000

    figures = ledger.figures()

    assert figures == {
        ShardKey("111", "f", "$LATEST"): ShardFigures(3, 15.0),
        ShardKey("111", "f", "live"): ShardFigures(1, 9.0),
    }
    ledger.done(event("d"))
    ledger.done(event("b", qualifier="live"))
    assert ledger.figures() == {ShardKey("111", "f", "$LATEST"): ShardFigures(2, 10.0)}


def test_the_ledger_stops_tracking_beyond_its_size() -> None:
    ledger = BacklogLedger(Clock(), max_events=2)
    for name in "abc":
        ledger.add(event(name))

    assert ledger.figures()[ShardKey("111", "f", "$LATEST")].depth == 2
    assert ledger.untracked == 1


def test_the_ledger_sink_forgets_an_event_once_its_outcome_is_taken() -> None:
    ledger = BacklogLedger(Clock())
    sink = LedgerSink(LoggingOutcomeSink(), ledger)
    ledger.add(event("a"))
    ledger.add(event("b"))

    async def settle() -> None:
        await sink.succeeded(event("a"), InvokeResult(200, b"", None, "$LATEST"))
        await sink.failed(event("b"), Condition.RETRIES_EXHAUSTED, None)

    asyncio.run(settle())

    assert ledger.figures() == {}


def test_metrics_show_the_mode_per_queue_and_the_figures_per_shard() -> None:
    clock = Clock()
    backlog = recovery(clock)
    backlog.observe(Q, depth=10_000, oldest_age_s=100)
    backlog.observe("async-001", depth=0, oldest_age_s=None)
    backlog.ledger.add(event("a", qualifier="1", at_ms=clock.now_ms - 2000))

    text = render(backlog_families(backlog))

    assert 'roost_async_backlog_mode{queue="async-000"} 1' in text
    assert 'roost_async_backlog_mode{queue="async-001"} 0' in text
    shard = 'account="111",function="f",qualifier="1"'
    assert f"roost_async_backlog_depth{{{shard}}} 1" in text
    assert f"roost_async_backlog_oldest_age_seconds{{{shard}}} 2" in text


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError):
        BacklogSettings(newest_share=share)


# Against a queue store


def test_a_refresh_observes_every_queue_from_the_store() -> None:
    async def scenario() -> None:
        clock = Clock()
        store = MemoryQueueStore(clock=lambda: clock.now_ms / 1000)
        backlog = recovery(clock, age_threshold_s=30)
        await store.send(Q, b"old")
        clock.now_ms += 40_000

        await backlog.refresh(store, [Q, "async-001"], lambda queue: 1)

        assert backlog.modes() == {"async-001": BacklogMode.NORMAL, Q: BacklogMode.BACKLOG}

    asyncio.run(scenario())


def test_receiving_by_the_plan_serves_fresh_messages_while_the_backlog_drains_behind() -> None:
    async def scenario() -> None:
        clock = Clock()
        store = MemoryQueueStore(clock=lambda: clock.now_ms / 1000)
        backlog = recovery(clock, newest_share=0.5)
        await store.send_batch(Q, [f"old{n}".encode() for n in range(100)])
        backlog.observe(Q, depth=100, oldest_age_s=100)
        await store.send(Q, b"fresh")

        received = []
        for part in backlog.plan(Q, 4):
            received += await store.receive(Q, max_messages=part.count, order=part.order)

        bodies = [m.body for m in received]
        assert bodies == [b"fresh", b"old99", b"old0", b"old1"]

    asyncio.run(scenario())
