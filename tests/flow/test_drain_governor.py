"""The drain governor: additive increase while healthy and limiting, multiplicative
decrease on errors or slowness, hold under pressure or without demand."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from roost.flow.backpressure import PressureState
from roost.flow.drain_governor import (
    Decision,
    DrainGovernor,
    DrainSettings,
    IntervalReport,
    NodeView,
    Pressure,
)

SETTINGS = DrainSettings(
    initial_rate_per_s=100.0,
    min_rate_per_s=10.0,
    max_rate_per_s=300.0,
    increase_per_s=50.0,
    decrease_factor=0.5,
    interval_s=1.0,
)


class View:
    def __init__(self) -> None:
        self.now = Pressure()

    def pressure(self) -> Pressure:
        return self.now


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def governor(view: View | None = None) -> DrainGovernor:
    return DrainGovernor(SETTINGS, view or View(), Clock())


def healthy_interval(
    gov: DrainGovernor, attempts: int | None = None, latency_s: float = 0.1
) -> None:
    """Attempts that went well (by default as many as the rate allowed in the interval),
    and starts that had to wait for a token."""
    for _ in range(int(gov.rate_per_s) if attempts is None else attempts):
        gov.attempted(latency_s)
    gov._report.waited += 5  # what ``take`` counts when the bucket is empty


def test_the_rate_ramps_up_one_step_per_healthy_limited_interval() -> None:
    gov = governor()
    rates = []
    for _ in range(3):
        healthy_interval(gov)
        assert gov.tick() is Decision.INCREASE
        rates.append(gov.rate_per_s)
    assert rates == [150.0, 200.0, 250.0]
    healthy_interval(gov)
    gov.tick()
    healthy_interval(gov)
    gov.tick()
    assert gov.rate_per_s == 300.0  # the maximum


def failing_interval(gov: DrainGovernor, attempts: int | None = None) -> None:
    """Attempts that failed for Roost's reasons (by default as many as the rate allowed)."""
    for _ in range(int(gov.rate_per_s) if attempts is None else attempts):
        gov.attempted(0.1, error=True)


def test_a_node_starts_open() -> None:
    """By default the bucket does not cap a healthy node: it starts at the maximum."""
    settings = DrainSettings()
    gov = DrainGovernor(settings, View(), Clock())
    assert gov.rate_per_s == settings.max_rate_per_s
    assert not gov.recovering


def test_errors_cut_the_rate_multiplicatively_down_to_the_minimum() -> None:
    gov = governor()
    for _ in range(100):
        gov.attempted(0.1)
    for _ in range(50):
        gov.attempted(0.1, error=True)

    assert gov.tick() is Decision.DECREASE
    assert gov.rate_per_s == 50.0
    for _ in range(5):
        gov.store_failed()
        gov.tick()
    assert gov.rate_per_s == SETTINGS.min_rate_per_s


def test_a_cut_starts_from_what_the_interval_started() -> None:
    """Halving a rate far above the node's pace would slow nothing: the cut applies to
    the attempts the unhealthy interval actually made."""
    gov = DrainGovernor(DrainSettings(), View(), Clock())  # open: 10,000/s
    failing_interval(gov, attempts=400)
    assert gov.tick() is Decision.DECREASE
    assert gov.rate_per_s == 200.0


def test_a_function_throttling_itself_is_not_an_error() -> None:
    gov = governor()
    for _ in range(20):
        gov.attempted(0.001, throttled=True)  # its own reservation: error=False
    gov._report.waited = 1
    assert gov.tick() is Decision.INCREASE


def test_latency_far_above_the_healthy_baseline_cuts_a_recovery() -> None:
    gov = governor()
    for _ in range(2):
        failing_interval(gov)
        gov.tick()  # an outage cut the rate: 50/s, then 25/s
    healthy_interval(gov, latency_s=0.1)
    gov.tick()  # the baseline: 0.1 s, and the ramp: 75/s, still recovering
    healthy_interval(gov, attempts=70, latency_s=0.5)  # 5x: the recovery struggles

    assert gov.tick() is Decision.DECREASE
    assert gov.rate_per_s == 35.0


def test_latency_alone_does_not_cut_an_open_node() -> None:
    """A burst a healthy node works through at full speed queues for its cores, so every
    attempt takes longer; that is load, not distress."""
    gov = governor()
    healthy_interval(gov, latency_s=0.01)
    gov.tick()
    rate = gov.rate_per_s
    healthy_interval(gov, latency_s=0.5)
    assert gov.tick() is not Decision.DECREASE
    assert gov.rate_per_s >= rate


def test_the_handshake_ramps_only_while_recovery_stays_healthy() -> None:
    """Given an outage cut the rate, recovery ramps up step by step, stops at the first
    bad interval, and resumes from the lower rate once healthy again."""
    gov = governor()
    for _ in range(4):
        gov.store_failed()
        gov.tick()
    assert gov.rate_per_s == 10.0

    history = []
    script = ["ok", "ok", "ok", "bad", "ok", "ok"]
    for step in script:
        if step == "ok":
            healthy_interval(gov)
        else:
            failing_interval(gov)
        history.append((gov.tick(), gov.rate_per_s))

    assert history == [
        (Decision.INCREASE, 60.0),
        (Decision.INCREASE, 110.0),
        (Decision.INCREASE, 160.0),
        (Decision.DECREASE, 80.0),
        (Decision.INCREASE, 130.0),
        (Decision.INCREASE, 180.0),
    ]


def test_full_slots_hold_the_rate_but_sync_traffic_alone_does_not() -> None:
    view = View()
    gov = governor(view)
    view.now = Pressure(utilisation=0.99)
    healthy_interval(gov)
    assert gov.tick() is Decision.HOLD
    assert gov.rate_per_s == 100.0

    # sync_first already narrows the async slots while sync invokes run: a drain
    # an outage cut must still ramp back under steady sync traffic
    view.now = Pressure(sync_busy=True)
    healthy_interval(gov)
    assert gov.tick() is Decision.INCREASE


def test_an_elevated_host_holds_the_normal_rate_but_not_a_recovery() -> None:
    view = View()
    gov = governor(view)
    view.now = Pressure(host=PressureState.ELEVATED)
    healthy_interval(gov)
    assert gov.tick() is Decision.HOLD  # at its initial rate: nothing to recover
    failing_interval(gov)  # the store failed under the drain
    assert gov.tick() is Decision.DECREASE
    healthy_interval(gov)
    assert gov.tick() is Decision.INCREASE  # below it: ramps back though elevated


def test_without_demand_the_rate_holds() -> None:
    gov = governor()
    for _ in range(20):
        gov.attempted(0.1)  # nobody waited for a token
    assert gov.tick() is Decision.HOLD
    assert gov.tick() is Decision.HOLD  # an idle interval too
    assert gov.figures().decisions[Decision.HOLD] == 2


def test_the_bucket_follows_the_rate_and_burst_s() -> None:
    gov = governor()
    healthy_interval(gov)
    gov.tick()
    assert gov.bucket.rate_per_s == 150.0
    assert gov.bucket.burst == pytest.approx(150.0 * SETTINGS.burst_s)


def test_a_report_without_enough_attempts_says_nothing_about_latency() -> None:
    assert IntervalReport(attempts=2, latency_sum_s=100.0).mean_latency_s is None
    assert IntervalReport(attempts=10, errors=5).error_rate == 0.5


def test_the_node_view_reads_sync_and_slots() -> None:
    view = NodeView(lambda: True, lambda: 3, lambda: 4)
    assert view.pressure() == Pressure(True, 0.75)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        DrainSettings(min_rate_per_s=10, max_rate_per_s=5)
    with pytest.raises(ValueError):
        DrainSettings(decrease_factor=1.0)


def test_the_governor_keeps_ticking_after_its_view_fails_once() -> None:
    # Given a node view whose first look at the sync plane hits a bug
    looks = 0

    def sync_busy() -> bool:
        nonlocal looks
        looks += 1
        if looks == 1:
            raise RuntimeError("bug")
        return False

    view = NodeView(sync_busy, in_use=lambda: 0, limit=lambda: 10)
    settings = dataclasses.replace(SETTINGS, interval_s=0.01)
    gov = DrainGovernor(settings, view)

    async def run_a_while() -> None:
        gov.start()
        await asyncio.sleep(0.2)
        await gov.stop()

    # When it runs for many intervals
    asyncio.run(run_a_while())

    # Then it went on deciding after the failed interval
    assert looks > 2
    assert sum(gov.decisions.values()) == looks - 1
