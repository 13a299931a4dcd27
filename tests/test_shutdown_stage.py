"""``shutdown_stage.stage``: a part of the shutdown that takes long says so while it runs."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from roost import shutdown_stage
from tests.fixtures.roost_process import RoostProcess


def test_a_slow_stage_is_named_while_it_runs_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> list[str]:
        seen: list[str] = []
        with shutdown_stage.stage("the slow part", slow_s=0.05):
            await asyncio.sleep(0.1)
            seen = [r.getMessage() for r in caplog.records]
        with shutdown_stage.stage("the quick part", slow_s=0.05):
            await asyncio.sleep(0)
        return seen

    with caplog.at_level("INFO", logger="roost.shutdown_stage"):
        while_running = asyncio.run(scenario())

    assert while_running == ["shutdown: still stopping the slow part after 0 s"]
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("shutdown: stopping the slow part took 0.1") for m in messages)
    assert not any("quick part" in m for m in messages)


def test_a_running_node_dumps_its_threads_on_sigusr1_and_goes_on(
    fresh_roost: RoostProcess,
) -> None:
    assert fresh_roost.process is not None
    fresh_roost.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while "Current thread" not in fresh_roost.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "Current thread" in fresh_roost.log()
    # Still serving: the dump is for a node that hangs, not a way to stop it.
    assert fresh_roost.client().list_functions()["Functions"] is not None
