"""Circuit breakers: state transitions, concentrated vs spread errors, probing, recovery."""

from __future__ import annotations

import pytest

from roost.flow.circuit_breaker import (
    BreakerBoard,
    BreakerBoards,
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    InvalidBreakerTransition,
)

SETTINGS = BreakerSettings(
    window_s=10.0,
    min_calls=4,
    failure_rate=0.5,
    consecutive_failures=3,
    cool_down_s=2.0,
    max_cool_down_s=8.0,
    fleet_fraction=0.5,
    active_s=60.0,
    fleet_backoff_s=1.0,
    max_fleet_backoff_s=4.0,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def board_of(clock: Clock, *targets: str) -> BreakerBoard:
    board = BreakerBoard("test", SETTINGS, clock)
    board.register(targets)
    return board


def fail(board: BreakerBoard, target: str, times: int) -> None:
    for _ in range(times):
        board.record_failure(target)


def test_consecutive_failures_open_a_concentrated_target(clock: Clock) -> None:
    # Given three healthy targets, one of which starts failing
    board = board_of(clock, "a", "b", "c")
    board.record_success("b")
    board.record_success("c")
    # When it fails three times in a row
    fail(board, "a", 3)
    # Then only its breaker opens and the fleet is not degraded
    assert board.states() == {
        "a": BreakerState.OPEN,
        "b": BreakerState.CLOSED,
        "c": BreakerState.CLOSED,
    }
    assert not board.fleet_degraded
    assert board.opens_total == 1
    refused = board.admit("a")
    assert not refused.allowed and refused.reason == "open"
    assert refused.retry_after_s == pytest.approx(2.0)
    assert board.admit("b").allowed


def test_failure_rate_over_the_window_trips(clock: Clock) -> None:
    board = board_of(clock, "a", "b", "c")
    # Alternating outcomes never make three in a row, but the rate is 50 %.
    for _ in range(2):
        board.record_success("a")
        board.record_failure("a")
    assert board.state("a") is BreakerState.OPEN


def test_old_failures_leave_the_window(clock: Clock) -> None:
    board = board_of(clock, "a", "b", "c")
    fail(board, "a", 2)
    clock.advance(11.0)
    board.record_success("a")
    board.record_success("a")
    board.record_failure("a")
    # 1 failure in 3 calls within the window, no run of three: still closed.
    assert board.state("a") is BreakerState.CLOSED


def test_half_open_probe_closes_on_success(clock: Clock) -> None:
    board = board_of(clock, "a", "b", "c")
    fail(board, "a", 3)
    clock.advance(2.0)
    assert board.state("a") is BreakerState.HALF_OPEN
    probe = board.admit("a")
    assert probe.allowed and probe.probe
    # One probe at a time: a second caller waits.
    assert not board.admit("a").allowed
    board.record_success("a")
    assert board.state("a") is BreakerState.CLOSED
    # Counting starts afresh: a single failure does not reopen it.
    board.record_failure("a")
    assert board.state("a") is BreakerState.CLOSED


def test_failed_probe_reopens_with_a_doubled_cool_down(clock: Clock) -> None:
    board = board_of(clock, "a", "b", "c")
    fail(board, "a", 3)
    clock.advance(2.0)
    assert board.admit("a").probe
    board.record_failure("a")
    assert board.state("a") is BreakerState.OPEN
    assert board.admit("a").retry_after_s == pytest.approx(4.0)
    clock.advance(4.0)
    assert board.admit("a").probe
    board.record_failure("a")
    clock.advance(8.0)
    assert board.admit("a").probe
    board.record_failure("a")
    # Capped at max_cool_down_s.
    assert board.admit("a").retry_after_s == pytest.approx(8.0)
    assert board.opens_total == 4


def test_an_abandoned_probe_is_replaced_after_a_cool_down(clock: Clock) -> None:
    breaker = CircuitBreaker(SETTINGS, clock)
    for _ in range(3):
        breaker.record(False)
    breaker.trip()
    clock.advance(2.0)
    assert breaker.admit().probe
    assert not breaker.admit().allowed
    clock.advance(2.0)
    assert breaker.admit().probe


def test_illegal_transition_raises(clock: Clock) -> None:
    breaker = CircuitBreaker(SETTINGS, clock)
    with pytest.raises(InvalidBreakerTransition):
        breaker._move(BreakerState.HALF_OPEN)


def test_spread_errors_are_a_fleet_fault_and_evict_nobody(clock: Clock) -> None:
    # Given three targets that all start failing at once
    board = board_of(clock, "a", "b", "c")
    # When each fails repeatedly, interleaved
    for _ in range(4):
        for target in ("a", "b", "c"):
            board.record_failure(target)
    # Then the board is fleet-degraded and no breaker is open
    assert board.fleet_degraded
    assert set(board.states().values()) == {BreakerState.CLOSED}
    # And callers back off uniformly: one fleet probe per interval
    refused = board.admit("c")
    assert not refused.allowed and refused.reason == "fleet"
    clock.advance(1.0)
    first = board.admit("b")
    assert first.allowed and first.probe and first.reason == "fleet"
    assert not board.admit("a").allowed
    assert board.usable(["a", "b", "c"]) == ["a", "b", "c"]


def test_breakers_opened_on_the_way_to_a_fleet_fault_are_reinstated(clock: Clock) -> None:
    board = board_of(clock, "a", "b", "c")
    # "a" fails first and alone: it opens
    fail(board, "a", 3)
    assert board.state("a") is BreakerState.OPEN
    # When a second of the three fails too (2 of 3 sick is more than half)
    board.record_failure("b")
    # Then it was the fleet all along: "a" is let back in
    assert board.fleet_degraded
    assert board.state("a") is BreakerState.CLOSED
    assert board.opens_total == 1


def test_a_long_sick_target_stays_open_through_a_fleet_fault(clock: Clock) -> None:
    board = board_of(clock, "a", "b", "c")
    fail(board, "a", 3)
    clock.advance(1.5)
    board.record_success("b")
    clock.advance(9.0)  # "a" opened more than a window ago: sick on its own
    fail(board, "b", 1)
    fail(board, "c", 1)
    assert board.fleet_degraded
    assert board.state("a") is not BreakerState.CLOSED


def test_failed_fleet_probes_double_the_backoff(clock: Clock) -> None:
    board = board_of(clock, "a", "b")
    fail(board, "a", 1)
    fail(board, "b", 1)
    assert board.fleet_degraded
    # A straggler begun before the fault was seen does not lengthen the wait.
    fail(board, "a", 1)
    assert board.admit("a").retry_after_s == pytest.approx(1.0)
    waits = []
    for _ in range(4):
        clock.advance(board.admit("a").retry_after_s)
        assert board.admit("a").probe
        board.record_failure("a")
        waits.append(board.admit("b").retry_after_s)
    assert waits == [2.0, 4.0, 4.0, 4.0]


def test_fleet_fault_ends_on_the_first_success_of_a_hit_target(clock: Clock) -> None:
    # Given a fleet-wide fault
    board = board_of(clock, "a", "b", "c")
    for target in ("a", "b", "c"):
        fail(board, target, 2)
    assert board.fleet_degraded
    # When the fleet probe succeeds
    clock.advance(1.0)
    assert board.admit("b").allowed
    board.record_success("b")
    # Then every target is usable again, judged afresh
    assert not board.fleet_degraded
    assert all(board.admit(t).allowed for t in ("a", "b", "c"))
    board.record_failure("c")
    assert board.state("c") is BreakerState.CLOSED and not board.fleet_degraded


def test_a_single_target_opens_but_stays_usable_when_it_is_all_there_is(clock: Clock) -> None:
    board = board_of(clock, "host-1")
    fail(board, "host-1", 10)
    assert not board.fleet_degraded
    assert board.state("host-1") is BreakerState.OPEN
    assert board.usable(["host-1"]) == ["host-1"]


def test_usable_skips_open_targets_but_never_returns_none(clock: Clock) -> None:
    board = board_of(clock, "a", "b", "c")
    fail(board, "a", 3)
    assert board.usable(["a", "b", "c"]) == ["b", "c"]
    assert board.usable(["a"]) == ["a"]


def test_inactive_targets_do_not_count_in_the_fleet(clock: Clock) -> None:
    board = board_of(clock, "a", "b", "c")
    clock.advance(61.0)  # "b" and "c" went quiet
    board.record_success("a")
    fail(board, "a", 3)
    # "a" is the only active target, and one sick target is not a fleet fault.
    assert not board.fleet_degraded
    assert board.state("a") is BreakerState.OPEN


def test_boards_are_per_kind(clock: Clock) -> None:
    boards = BreakerBoards(SETTINGS, clock)
    assert boards.board("destination") is boards.board("destination")
    boards.board("host")
    assert [b.kind for b in boards.all()] == ["destination", "host"]


def test_metrics_show_states_fleet_and_opens(clock: Clock) -> None:
    from roost.observability.node_metrics import breaker_families
    from roost.observability.prometheus import parse, render

    boards = BreakerBoards(SETTINGS, clock)
    fail(boards.board("destination"), "arn:q1", 3)
    boards.board("destination").record_success("arn:q2")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in parse(render(breaker_families(boards)))
    }
    dest = ("dependency", "destination")
    assert samples[("roost_breaker_state", (dest, ("target", "arn:q1")))] == 2
    assert samples[("roost_breaker_state", (dest, ("target", "arn:q2")))] == 0
    assert samples[("roost_breaker_fleet_degraded", (dest,))] == 0
    assert samples[("roost_breaker_opens_total", (dest,))] == 1
