"""``LoopGuard``: a loop's unexpected errors are logged, survived and counted by kind."""

from __future__ import annotations

import asyncio

import pytest

from roost.loop_guard import LoopFailures, LoopGuard
from roost.observability.node_metrics import NodeMetrics
from roost.observability.prometheus import parse


def _fail(guard: LoopGuard, message: str) -> None:
    with guard.turn():
        raise RuntimeError(message)


def test_failures_are_counted_by_kind_and_stay_counted_after_the_loop_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tally = LoopFailures()
    first = LoopGuard("poller p0 polling async-000", kind="async poller queue loop", tally=tally)
    second = LoopGuard("poller p1 polling async-001", kind="async poller queue loop", tally=tally)
    reaper = LoopGuard("express lane reaper", tally=tally)

    _fail(first, "boom")
    _fail(first, "boom")
    _fail(second, "bang")
    _fail(reaper, "crash")
    del first, second  # their loops ended (a lease moved on): the count stays

    assert tally.by_kind() == {"async poller queue loop": 3, "express lane reaper": 1}
    # The log names the loop itself; a repeat of the same error is one line.
    assert "poller p0 polling async-000 failed unexpectedly" in caplog.text
    assert "poller p0 polling async-000 failed again" in caplog.text


def test_metrics_show_the_failures_of_each_loop_kind() -> None:
    tally = LoopFailures()
    _fail(LoopGuard("worker heartbeat", tally=tally), "store gone odd")
    _fail(LoopGuard("worker heartbeat", tally=tally), "again")

    text = asyncio.run(NodeMetrics(None, None, loops=tally).render())

    samples = [s for s in parse(text) if s.name == "roost_loop_failures_total"]
    assert [(dict(s.labels), s.value) for s in samples] == [({"loop": "worker heartbeat"}, 2.0)]
