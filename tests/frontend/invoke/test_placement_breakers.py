"""Placement over a board of worker hosts: a faulty host is avoided, a lone one kept."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from roost.flow.circuit_breaker import BreakerBoard, BreakerSettings, BreakerState
from roost.frontend.invoke.placement import LOCAL_HOST, PlacementService

_ids = itertools.count()
SETTINGS = BreakerSettings(consecutive_failures=2, cool_down_s=60.0)


@dataclass
class FakeEnv:
    env_id: str
    init_failed_unreported: bool = False


@dataclass
class FakeHost:
    """A worker host that spawns, fails to spawn, or starts environments that die unreported."""

    spawn_fails: bool = False
    dies_unreported: bool = False
    created: list[FakeEnv] = field(default_factory=list)
    memory_in_use_mb: int = 0

    async def create(self, account_id: str, config: Any, network: bool = True) -> FakeEnv:
        if self.spawn_fails:
            raise OSError("bwrap: setting up uid map: Permission denied")
        env = FakeEnv(f"env-{next(_ids)}", init_failed_unreported=self.dies_unreported)
        self.created.append(env)
        return env

    async def destroy(self, env: FakeEnv) -> None:
        self.created.remove(env)


def place(placement: PlacementService, times: int) -> list[Any]:
    async def run() -> list[Any]:
        placed = []
        for _ in range(times):
            try:
                placed.append(await placement.place("000000000000", None))  # type: ignore[arg-type]
            except OSError as error:
                placed.append(error)
        return placed

    return asyncio.run(run())


def test_a_host_that_fails_to_spawn_is_avoided() -> None:
    # Given two hosts, the local one failing to spawn environments
    local, other = FakeHost(spawn_fails=True), FakeHost()
    board = BreakerBoard("worker_host", SETTINGS)
    placement = PlacementService(local, 60, 60, others={"h2": other}, breakers=board)  # type: ignore[arg-type]
    # When environments are placed
    placed = place(placement, 5)
    # Then every one lands on the healthy host and the faulty host's breaker opens
    assert all(isinstance(env, FakeEnv) for env in placed)
    assert len(other.created) == 5
    assert board.state(LOCAL_HOST) is BreakerState.OPEN
    assert board.state("h2") is BreakerState.CLOSED
    assert not board.fleet_degraded


def test_environments_dying_before_init_count_against_their_host() -> None:
    local, other = FakeHost(dies_unreported=True), FakeHost()
    board = BreakerBoard("worker_host", SETTINGS)
    placement = PlacementService(local, 60, 60, others={"h2": other}, breakers=board)  # type: ignore[arg-type]
    local.memory_in_use_mb, other.memory_in_use_mb = 0, 100  # Local is the natural pick.
    place(placement, 4)
    assert board.state(LOCAL_HOST) is BreakerState.OPEN
    assert len(local.created) == 2 and len(other.created) == 2


def test_a_lone_failing_host_keeps_being_used() -> None:
    local = FakeHost(spawn_fails=True)
    board = BreakerBoard("worker_host", SETTINGS)
    placement = PlacementService(local, 60, 60, breakers=board)  # type: ignore[arg-type]
    placed = place(placement, 4)
    # It is all there is: every placement still tries it (and reports its error).
    assert all(isinstance(error, OSError) for error in placed)
    local.spawn_fails = False
    # After the cool-down is not needed to use it: a lone host is never skipped.
    [env] = place(placement, 1)
    assert isinstance(env, FakeEnv)


def test_every_host_failing_is_a_fleet_fault_and_nobody_is_evicted() -> None:
    hosts = {"h2": FakeHost(spawn_fails=True), "h3": FakeHost(spawn_fails=True)}
    local = FakeHost(spawn_fails=True)
    board = BreakerBoard("worker_host", SETTINGS)
    placement = PlacementService(local, 60, 60, others=hosts, breakers=board)  # type: ignore[arg-type]
    place(placement, 3)
    assert board.fleet_degraded
    assert board.usable(placement.hosts) == [LOCAL_HOST, "h2", "h3"]
    # When the shared fault clears, placement goes on everywhere at once.
    for host in (local, *hosts.values()):
        host.spawn_fails = False
    [env] = place(placement, 1)
    assert isinstance(env, FakeEnv)
    assert not board.fleet_degraded


@pytest.mark.parametrize("dies", [False])
def test_function_init_errors_do_not_count(dies: bool) -> None:
    local = FakeHost(dies_unreported=dies)
    board = BreakerBoard("worker_host", SETTINGS)
    placement = PlacementService(local, 60, 60, breakers=board)  # type: ignore[arg-type]
    place(placement, 5)
    assert board.state(LOCAL_HOST) is BreakerState.CLOSED
