"""A mapping runner over a fake queue: batches, checkpoints, concurrency cap, updates."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

from roost.async_invoke.outcome import InvokeResult
from roost.esm.autoscaler import ScalingSettings
from roost.esm.error_handler import ErrorHandler
from roost.esm.health import PollerHealth
from roost.esm.load_shedder import LoadShedder
from roost.esm.mapping import EventSourceMapping
from roost.esm.orchestrator import InvokeOrchestrator
from roost.esm.runner import MappingRunner, RunnerDeps, RunnerSettings
from tests.esm.support import FakeConnector, mapping, record


class SlowInvoker:
    """Records batches and how many ran at once; fails ids listed in ``failing``."""

    def __init__(self, failing: set[str] | None = None, delay_s: float = 0.02) -> None:
        self.delay_s = delay_s
        self.batches: list[list[str]] = []
        self.running = 0
        self.peak = 0
        self.failing = failing or set()

    async def invoke(self, mapping: EventSourceMapping, payload: bytes) -> InvokeResult:
        ids = [r["messageId"] for r in json.loads(payload)["Records"]]
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.running -= 1
        self.batches.append(ids)
        failed = [{"itemIdentifier": i} for i in ids if i in self.failing]
        return InvokeResult(200, json.dumps({"batchItemFailures": failed}).encode(), None, "1")


def deps(invoker: SlowInvoker, holds: bool = True) -> RunnerDeps:
    health = PollerHealth()
    return RunnerDeps(
        orchestrator=InvokeOrchestrator(invoker),
        errors=ErrorHandler(),
        shedder=LoadShedder(health),
        poller_health=health,
        scaling=ScalingSettings(),
        progress=lambda uuid: None,
        holds=lambda uuid: holds,
    )


SETTINGS = RunnerSettings(poll_wait_s=0.01, supervise_interval_s=0.01)


async def until(condition: object, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


def test_records_are_batched_invoked_and_deleted_after_success() -> None:
    async def scenario() -> None:
        connector, invoker = FakeConnector(), SlowInvoker()
        connector.feed([record(f"r{i}") for i in range(25)])
        runner = MappingRunner(mapping(batch_size=10), connector, deps(invoker), SETTINGS)
        await runner.start()
        await until(lambda: len(connector.committed) == 25)
        await runner.stop()
        assert sorted(i for b in invoker.batches for i in b) == sorted(f"r{i}" for i in range(25))
        assert max(len(b) for b in invoker.batches) <= 10

    asyncio.run(scenario())


def test_maximum_concurrency_caps_invokes_in_flight() -> None:
    async def scenario() -> None:
        connector, invoker = FakeConnector(), SlowInvoker()
        connector.feed([record(f"r{i}") for i in range(40)])
        settings = {"batch_size": 1, "scaling_config": {"MaximumConcurrency": 2}}
        runner = MappingRunner(mapping(**settings), connector, deps(invoker), SETTINGS)
        await runner.start()
        await until(lambda: len(connector.committed) == 40)
        await runner.stop()
        assert invoker.peak == 2
        assert runner.gate.peak <= 2

    asyncio.run(scenario())


def test_an_update_reaches_the_running_loops() -> None:
    async def scenario() -> None:
        connector, invoker = FakeConnector(), SlowInvoker()
        current = mapping(batch_size=1, scaling_config={"MaximumConcurrency": 2})
        runner = MappingRunner(current, connector, deps(invoker), SETTINGS)
        await runner.start()
        await runner.update(
            dataclasses.replace(
                current,
                settings=dataclasses.replace(
                    current.settings, batch_size=5, maximum_batching_window_s=1
                ),
            )
        )
        connector.feed([record(f"r{i}") for i in range(5)])
        await until(lambda: len(connector.committed) == 5)
        await runner.stop()
        assert max(len(b) for b in invoker.batches) > 1

    asyncio.run(scenario())


def test_failed_records_are_not_deleted_and_nothing_commits_without_the_lease() -> None:
    async def scenario() -> None:
        connector, invoker = FakeConnector(), SlowInvoker(failing={"r1"})
        connector.feed([record("r0"), record("r1")])
        settings = {"batch_size": 10, "function_response_types": ("ReportBatchItemFailures",)}
        runner = MappingRunner(mapping(**settings), connector, deps(invoker), SETTINGS)
        await runner.start()
        await until(lambda: connector.committed == ["r0"])
        await runner.stop()

        lost = FakeConnector()
        lost.feed([record("r2")])
        other = SlowInvoker()
        runner = MappingRunner(mapping(), lost, deps(other, holds=False), SETTINGS)
        await runner.start()
        await until(lambda: other.batches == [["r2"]])
        await runner.stop()
        assert lost.committed == []

    asyncio.run(scenario())


def test_the_supervisor_goes_on_after_an_unexpected_error() -> None:
    async def main() -> None:
        # Given a long invoke, and a lease keeper whose first progress report during
        # it (the supervisor's) hits a bug
        invoker = SlowInvoker(delay_s=0.5)
        reports: list[str] = []

        def progress(uuid: str) -> None:
            if invoker.running:
                reports.append(uuid)
                if len(reports) == 1:
                    raise RuntimeError("bug")

        connector = FakeConnector()
        connector.feed([record("a")])
        # (one batch loop: only the supervisor reports while it invokes)
        one_loop = ScalingSettings(initial=1, idle_floor=1, max_batches=1)
        runner_deps = dataclasses.replace(deps(invoker), progress=progress, scaling=one_loop)
        runner = MappingRunner(mapping(), connector, runner_deps, SETTINGS)

        # When the runner works on it
        await runner.start()

        # Then the supervisor goes on reporting the invoke as progress
        await until(lambda: len(reports) >= 3, timeout_s=2.0)
        await until(lambda: invoker.batches == [["a"]])
        await runner.stop()

    asyncio.run(main())


def test_a_fifo_groups_records_left_over_after_a_failed_batch_do_not_run_ahead_of_it() -> None:
    """Three 2.5 MB messages of one group: the 6 MB payload limit lets only two into a
    batch. When that batch fails, the third must not be invoked before the two come
    back (a failure stops the group); it goes back to the queue behind them."""

    async def scenario() -> None:
        body = "x" * 2_500_000
        hidden_until = time.monotonic() + 60
        records = [record(f"m{i}", body, group="g", visible_until_s=hidden_until) for i in range(3)]
        connector = FakeConnector(ordered=True)
        connector.feed(records)
        invoker = SlowInvoker(failing={"m0", "m1"})
        settings = {"batch_size": 10, "function_response_types": ("ReportBatchItemFailures",)}
        runner = MappingRunner(mapping(**settings), connector, deps(invoker), SETTINGS)
        await runner.start()
        await until(lambda: "m2" in connector.released)
        await asyncio.sleep(0.1)
        await runner.stop()
        assert invoker.batches == [["m0", "m1"]]
        assert connector.committed == []
        # m0 stays hidden (the group's head); m1 and m2 go back behind it.
        assert sorted(connector.released) == ["m1", "m2"]

    asyncio.run(scenario())
