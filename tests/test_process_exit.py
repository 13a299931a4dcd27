"""``process_exit.leave``: a stopped node's process ends without waiting for blocked threads."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

from roost.process_exit import await_chain

CHILD = textwrap.dedent(
    """
    import logging, sys, threading
    from roost import process_exit
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    blocked = threading.Event()
    mode = sys.argv[1]
    if mode == "blocked":
        threading.Thread(target=blocked.wait, name="stuck-call").start()
    elif mode == "ending":
        threading.Thread(target=blocked.wait, args=(0.05,), name="short-call").start()
    code = process_exit.leave(3, grace_s=0.5)
    print("returned", code, flush=True)
    sys.exit(code)
    """
)


def run_child(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=30
    )


def test_a_thread_still_blocked_is_named_and_left_behind() -> None:
    child = run_child("blocked")
    # The thread waits forever: a normal exit would have hung until the timeout.
    assert child.returncode == 3
    assert "returned" not in child.stdout
    assert "leaving 1 threads still blocked" in child.stderr
    assert "stuck-call" in child.stderr


def test_threads_that_end_within_the_grace_make_a_normal_exit() -> None:
    for mode in ("none", "ending"):
        child = run_child(mode)
        assert child.returncode == 3
        assert "returned 3" in child.stdout
        assert "leaving" not in child.stderr


HANGING_STOP = textwrap.dedent(
    """
    import asyncio
    from roost import process_exit

    async def part_that_never_ends():
        await asyncio.Event().wait()

    async def stop():
        process_exit.StopDeadline(0.5).arm(asyncio.get_running_loop())
        await part_that_never_ends()

    asyncio.run(stop())
    """
)

FINISHING_STOP = textwrap.dedent(
    """
    import time
    from roost import process_exit
    deadline = process_exit.StopDeadline(0.5)
    deadline.arm()
    deadline.disarm()
    time.sleep(1.0)
    print("stopped in my own time", flush=True)
    """
)


def test_a_stop_past_its_deadline_ends_the_process_and_says_where_it_waited() -> None:
    child = subprocess.run(
        [sys.executable, "-c", HANGING_STOP], capture_output=True, text=True, timeout=30
    )
    assert child.returncode == 1
    assert "stop still running after 0.5 s" in child.stderr
    assert "part_that_never_ends" in child.stderr  # the coroutine it waits in


def test_a_stop_that_finishes_calls_its_deadline_off() -> None:
    child = subprocess.run(
        [sys.executable, "-c", FINISHING_STOP], capture_output=True, text=True, timeout=30
    )
    assert child.returncode == 0
    assert "stopped in my own time" in child.stdout


def test_an_await_chain_goes_down_to_the_task_or_future_awaited() -> None:
    async def main() -> list[str]:
        never = asyncio.Event()

        async def ticks() -> AsyncIterator[int]:
            await never.wait()
            yield 1

        async def inner() -> None:
            async for _ in ticks():
                pass

        blocker = asyncio.create_task(inner(), name="blocker")

        async def outer() -> None:
            await blocker

        task = asyncio.create_task(outer())
        await asyncio.sleep(0.01)
        chains = [await_chain(task), await_chain(blocker)]
        for running in (task, blocker):
            running.cancel()
        await asyncio.gather(task, blocker, return_exceptions=True)
        return [" | ".join(chain) for chain in chains]

    outer_chain, blocker_chain = asyncio.run(main())

    assert " in outer | waiting for <Task pending name='blocker'" in outer_chain
    # Down to the ``async for`` (an async generator's step shows no frame), then the
    # future the task waits on
    assert " in inner | " in blocker_chain
    assert blocker_chain.rsplit(" | ", 1)[1].startswith("waiting for <Future pending")


def test_roost_up_refuses_a_stop_deadline_that_is_not_a_number_of_seconds() -> None:
    for value in ("inf", "0", "-5", "soon"):
        done = subprocess.run(
            [sys.executable, "-m", "roost", "up", "--port", "1"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "ROOST_STOP_DEADLINE_S": value},
            check=False,
        )
        assert done.returncode == 2, (value, done.stderr)
        assert "roost up: ROOST_STOP_DEADLINE_S must be seconds" in done.stderr
