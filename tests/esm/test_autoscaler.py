"""The autoscaler and load shedder: start small, grow with a backlog, shrink when idle,
never past MaximumConcurrency or the provisioned pollers."""

from __future__ import annotations

from roost.esm.autoscaler import Autoscaler, ScalingLimits, ScalingSettings
from roost.esm.health import PollerHealth, WindowStats
from roost.esm.load_shedder import LoadShedder
from roost.esm.mapping import MappingSettings

SCALING = ScalingSettings(step=300, max_batches=1000)
BACKLOG = WindowStats(polls=10, full_polls=10, batches=10)
IDLE = WindowStats(polls=10, empty_polls=10)


def scaler(**settings: object) -> Autoscaler:
    return Autoscaler(ScalingLimits.of(MappingSettings(**settings), SCALING), SCALING)  # type: ignore[arg-type]


def test_it_starts_with_five_batches_and_adds_300_per_interval_up_to_1000() -> None:
    autoscaler = scaler()
    assert autoscaler.target == 5
    assert [autoscaler.decide(BACKLOG) for _ in range(5)] == [305, 605, 905, 1000, 1000]


def test_idle_it_returns_to_five_then_down_to_two() -> None:
    autoscaler = scaler()
    autoscaler.decide(BACKLOG)
    assert [autoscaler.decide(IDLE) for _ in range(5)] == [5, 4, 3, 2, 2]
    # Records arriving bring the initial batches back at once.
    assert autoscaler.records_seen() == 5


def test_maximum_concurrency_caps_it_and_keeps_the_floor() -> None:
    autoscaler = scaler(scaling_config={"MaximumConcurrency": 3})
    assert autoscaler.target == 3
    assert autoscaler.decide(BACKLOG) == 3
    assert autoscaler.decide(IDLE) == 3  # no drop to two under a maximum concurrency


def test_lowering_maximum_concurrency_applies_at_once() -> None:
    autoscaler = scaler()
    autoscaler.decide(BACKLOG)
    autoscaler.reconfigure(
        ScalingLimits.of(MappingSettings(scaling_config={"MaximumConcurrency": 2}), SCALING)
    )
    assert autoscaler.target == 2


def test_provisioned_pollers_bound_it() -> None:
    provisioned = {"MinimumPollers": 3, "MaximumPollers": 4}
    autoscaler = scaler(provisioned_poller_config=provisioned)
    assert autoscaler.target == 4 or autoscaler.target == 3
    assert autoscaler.decide(BACKLOG) == 4
    assert [autoscaler.decide(IDLE) for _ in range(3)] == [3, 3, 3]


def test_errors_and_throttles_make_it_back_off() -> None:
    autoscaler = scaler()
    autoscaler.decide(BACKLOG)
    assert autoscaler.decide(WindowStats(polls=5, full_polls=5, batches=4, throttles=3)) == 152


def test_the_load_shedder_halves_concurrency_when_the_loop_runs_late() -> None:
    health = PollerHealth(hot_lag_s=0.1)
    shedder = LoadShedder(health, max_in_flight=10)
    assert shedder.limit(8) == 8
    for _ in range(20):
        health.sample_lag(1.0)
    assert health.running_hot
    assert shedder.limit(8) == 4
    assert shedder.admit()
