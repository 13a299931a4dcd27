"""``within`` and ``cancel_and_wait`` deliver every cancellation."""

from __future__ import annotations

import asyncio

import pytest

from roost.cancellation import all_ended, cancel_and_wait, within


def test_a_cancel_arriving_as_the_wait_ends_stops_the_loop() -> None:
    # asyncio.wait_for on Python 3.11 returned the event's result here and the
    # loop ran on, so whoever stopped it by cancelling waited forever.
    async def main() -> None:
        wake = asyncio.Event()
        passes = 0

        async def reconcile_forever() -> None:
            nonlocal passes
            while True:
                passes += 1
                with pytest.raises(TimeoutError):
                    await within(wake.wait(), 60.0)

        task = asyncio.create_task(reconcile_forever())
        await asyncio.sleep(0)
        wake.set()
        task.cancel()
        await asyncio.wait({task}, timeout=10.0)

        assert task.cancelled()
        assert passes == 1

    asyncio.run(main())


def test_within_gives_up_with_timeout_error_and_cancels_what_it_waited_for() -> None:
    async def main() -> None:
        never = asyncio.get_running_loop().create_future()
        with pytest.raises(TimeoutError):
            await within(never, 0.01)
        assert never.cancelled()
        assert await within(asyncio.sleep(0, "done"), 10.0) == "done"
        assert await within(asyncio.sleep(0, "no limit"), None) == "no limit"

    asyncio.run(main())


def test_cancel_and_wait_ends_the_task_and_raises_its_error() -> None:
    async def main() -> None:
        async def loop_forever() -> None:
            await asyncio.Event().wait()

        task = asyncio.create_task(loop_forever())
        await asyncio.sleep(0)
        await cancel_and_wait(task)
        assert task.cancelled()

        async def failing_on_stop() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                raise RuntimeError("broke while stopping")

        failing = asyncio.create_task(failing_on_stop())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="broke while stopping"):
            await cancel_and_wait(failing)

    asyncio.run(main())


def test_a_stop_given_a_deadline_is_cut_short_by_it() -> None:
    # ``with suppress(CancelledError): await task`` swallowed the caller's own
    # cancellation too: a stop bounded by a timeout could not be bounded.
    async def main() -> None:
        release = asyncio.Event()

        async def slow_to_stop() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                await release.wait()

        task = asyncio.create_task(slow_to_stop())
        await asyncio.sleep(0)
        with pytest.raises(TimeoutError):
            await within(cancel_and_wait(task), 0.05)
        release.set()
        await asyncio.wait({task}, timeout=10.0)
        assert task.cancelled()

    asyncio.run(main())


def test_all_ended_lets_every_awaitable_end_before_it_raises_the_first_failure() -> None:
    async def main() -> list[str]:
        ended: list[str] = []

        async def fails_at_once() -> int:
            ended.append("fast")
            raise RuntimeError("first")

        async def fails_later() -> int:
            await asyncio.sleep(0.05)
            ended.append("slow")
            raise ValueError("second")

        with pytest.raises(RuntimeError, match="first"):
            await all_ended(fails_at_once(), fails_later())
        assert await all_ended(asyncio.sleep(0, 1), asyncio.sleep(0, 2)) == [1, 2]
        return ended

    assert asyncio.run(main()) == ["fast", "slow"]
