"""Start-up steps whose store is down are retried in the background until done."""

from __future__ import annotations

import asyncio

import pytest

from roost.startup_recovery import RecoverySettings, StartupRecovery
from roost.store.errors import StoreUnavailable

FAST = RecoverySettings(first_retry_s=0.01, max_retry_s=0.02)


class Step:
    """A step that fails with ``StoreUnavailable`` ``failures`` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise StoreUnavailable("config-store unavailable")


def test_a_step_whose_store_answers_runs_once_at_start() -> None:
    async def scenario() -> None:
        recovery = StartupRecovery(FAST)
        step = Step(failures=0)
        assert await recovery.run("transitions", step)
        assert step.calls == 1 and recovery.pending == []
        await recovery.stop()

    asyncio.run(scenario())


def test_a_step_whose_store_is_down_is_retried_until_it_succeeds() -> None:
    async def scenario() -> None:
        # Given a step whose store fails three times
        recovery = StartupRecovery(FAST)
        step = Step(failures=3)
        # When it runs at start: not done, pending, and the start goes on
        assert not await recovery.run("transitions", step)
        assert recovery.pending == ["transitions"]
        # Then it is retried in the background until the store answers
        for _ in range(200):
            if not recovery.pending:
                break
            await asyncio.sleep(0.01)
        assert recovery.pending == [] and step.calls == 4
        await recovery.stop()

    asyncio.run(scenario())


def test_stop_ends_the_retries() -> None:
    async def scenario() -> None:
        recovery = StartupRecovery(FAST)
        step = Step(failures=10**6)
        await recovery.run("transitions", step)
        await asyncio.sleep(0.05)
        await recovery.stop()
        calls = step.calls
        await asyncio.sleep(0.05)
        assert step.calls == calls

    asyncio.run(scenario())


def test_other_errors_stop_the_start() -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        asyncio.run(StartupRecovery(FAST).run("transitions", broken))


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        RecoverySettings(first_retry_s=0)
    with pytest.raises(ValueError):
        RecoverySettings(first_retry_s=2, max_retry_s=1)
