"""Assignment: warm environments first, and no environment stranded by a cancelled invoke."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roost.flow.scaling import ScalingLimiter
from roost.frontend.invoke.assignment import AssignmentService
from roost.worker.environment import RuntimeStatus


class FakeEnvironment:
    def __init__(self) -> None:
        self.status = RuntimeStatus.READY
        self.env_id = "env-1"


class FakeHost:
    def __init__(self) -> None:
        self.warm: list[Any] = []

    def checkout(self, key: Any) -> Any:
        return self.warm.pop() if self.warm else None

    def checkin(self, env: Any) -> None:
        self.warm.append(env)


class FakePlacement:
    def __init__(self) -> None:
        self.host = FakeHost()
        self.started = asyncio.Event()
        self.finish = asyncio.Event()

    async def place(self, account_id: str, config: Any, network: bool) -> Any:
        self.started.set()
        await self.finish.wait()
        return FakeEnvironment()

    def checkout(self, key: Any) -> Any:
        return self.host.checkout(key)

    def checkin(self, env: Any) -> None:
        self.host.checkin(env)

    def lease_expired(self, env: Any) -> bool:
        return False

    async def retire(self, env: Any) -> None:
        raise AssertionError("a healthy environment must not be retired")


class Config:
    name = "fn"
    version = "$LATEST"
    revision_id = "r1"


def test_an_environment_started_for_a_cancelled_invoke_joins_the_warm_pool() -> None:
    async def scenario() -> None:
        placement = FakePlacement()
        assignment = AssignmentService(placement, ScalingLimiter())  # type: ignore[arg-type]
        invoke = asyncio.ensure_future(assignment.acquire("a", Config()))  # type: ignore[arg-type]
        await placement.started.wait()

        invoke.cancel()
        with pytest.raises(asyncio.CancelledError):
            await invoke
        placement.finish.set()
        for _ in range(5):
            await asyncio.sleep(0)

        assert len(placement.host.warm) == 1
        # The next invoke gets it warm, without placing another.
        placement.started.clear()
        env = await assignment.acquire("a", Config())  # type: ignore[arg-type]
        assert env is not None
        assert not placement.started.is_set()

    asyncio.run(scenario())
