"""Zone health: detection on strong evidence, evacuation, observation and move-back."""

from __future__ import annotations

from roost.cluster.worker_registry import WorkerRecord
from roost.cluster.zones import ZoneHealth, ZoneSettings, ZoneState
from tests.fixtures.stores import FakeClock

SETTINGS = ZoneSettings(missing_after_s=3, unhealthy_fraction=0.5, confirm_s=2, observe_s=10)


def host(node: str, zone: str, heartbeat_s: float) -> WorkerRecord:
    return WorkerRecord(node, zone, f"http://{node}", 8, 0, 1024, int(heartbeat_s * 1000), 0)


def fleet(clock: FakeClock, down: frozenset[str] = frozenset()) -> list[WorkerRecord]:
    """Two hosts in each of zones a, b, c; hosts in ``down`` stopped heartbeating at 0."""
    return [
        host(f"{zone}{n}", zone, 0 if f"{zone}{n}" in down else clock())
        for zone in "abc"
        for n in (1, 2)
    ]


def test_a_zone_is_evacuated_only_once_the_evidence_has_held() -> None:
    clock = FakeClock(0)
    zones = ZoneHealth(SETTINGS, clock)
    zones.observe(fleet(clock))

    # When both hosts of zone a stop heartbeating
    clock.advance(4)
    zones.observe(fleet(clock, frozenset({"a1", "a2"})))
    # Then it is only suspect at first, and keeps its weight
    assert zones.state("a") is ZoneState.SUSPECT
    assert zones.weight("a") == 1.0

    clock.advance(2)
    zones.observe(fleet(clock, frozenset({"a1", "a2"})))
    assert zones.state("a") is ZoneState.EVACUATED
    assert zones.weight("a") == 0.0
    assert zones.state("b") is ZoneState.HEALTHY
    assert zones.evacuations == 1


def test_one_slow_host_of_a_large_zone_does_not_move_it() -> None:
    clock = FakeClock(0)
    zones = ZoneHealth(SETTINGS, clock)

    # One host of four in zone a stopped heartbeating at 0; the rest go on
    for _ in range(5):
        clock.advance(2)
        records = [host("a0", "a", 0)] + [host(f"a{n}", "a", clock()) for n in (1, 2, 3)]
        zones.observe([*records, host("b1", "b", clock())])

    assert zones.state("a") is ZoneState.HEALTHY


def test_a_suspect_zone_that_recovers_goes_back_to_healthy() -> None:
    clock = FakeClock(0)
    zones = ZoneHealth(SETTINGS, clock)
    clock.advance(4)
    zones.observe(fleet(clock, frozenset({"a1", "a2"})))

    clock.advance(1)
    zones.observe(fleet(clock))

    assert zones.state("a") is ZoneState.HEALTHY
    assert zones.evacuations == 0


def test_when_every_zone_looks_down_none_is_evacuated() -> None:
    clock = FakeClock(0)
    zones = ZoneHealth(SETTINGS, clock)
    everyone = frozenset(f"{zone}{n}" for zone in "abc" for n in (1, 2))

    for _ in range(4):
        clock.advance(2)
        zones.observe(fleet(clock, everyone))

    assert {view.state for view in zones.views()} == {ZoneState.SUSPECT}
    assert all(zones.weight(zone) == 1.0 for zone in "abc")


def test_an_evacuated_zone_is_observed_and_its_weight_ramps_back() -> None:
    clock = FakeClock(0)
    zones = ZoneHealth(SETTINGS, clock)
    clock.advance(4)
    zones.observe(fleet(clock, frozenset({"a1", "a2"})))
    clock.advance(2)
    zones.observe(fleet(clock, frozenset({"a1", "a2"})))
    assert zones.state("a") is ZoneState.EVACUATED

    # When its hosts heartbeat again
    clock.advance(1)
    zones.observe(fleet(clock))
    assert zones.state("a") is ZoneState.OBSERVING
    clock.advance(5)
    zones.observe(fleet(clock))

    # Then load returns gradually, and fully after the observation period
    assert 0.3 < zones.weight("a") < 0.7
    clock.advance(5)
    zones.observe(fleet(clock))
    assert zones.state("a") is ZoneState.HEALTHY
    assert zones.weight("a") == 1.0
    assert zones.returns == 1


def test_a_relapse_while_observed_evacuates_again_at_once() -> None:
    clock = FakeClock(0)
    zones = ZoneHealth(SETTINGS, clock)
    clock.advance(4)
    zones.observe(fleet(clock, frozenset({"a1", "a2"})))
    clock.advance(2)
    zones.observe(fleet(clock, frozenset({"a1", "a2"})))
    clock.advance(1)
    zones.observe(fleet(clock))

    clock.advance(4)
    zones.observe([r if r.zone != "a" else host(r.node_id, "a", clock() - 4) for r in fleet(clock)])

    assert zones.state("a") is ZoneState.EVACUATED
