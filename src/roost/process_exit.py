"""Leaving the process once the node has stopped, past calls still blocked in threads.

Python's exit joins every non-daemon thread, the workers of thread pools
included. A worker blocked in a call to an outside service holds the exit
until that call returns: an SQS long poll of an idle queue waits up to 20 s,
a boto3 call up to its read timeout. By then the node has closed everything it
owns (stores, environments, sockets), so no result such a call brings back can
be recorded any more, and the outside service settles it as after any crash:
an SQS message received by an abandoned long poll becomes visible again after
its visibility timeout, a delete or a delivery cut off leaves its message to be
received and run again (at least once). So ``roost up`` gives such threads a
moment to end and then leaves without them, naming them in the log.

For the same reason a stop may be cut short altogether: everything a node
acknowledged is durable before it said so, and a crash of any process loses
none of it. Once ``roost up`` begins to stop it arms a ``StopDeadline``: a stop
still running ``STOP_DEADLINE_S`` later (a part that waits for something that
never comes) dumps every thread's stack and every task's await chain to stderr
and ends the process with status 1, rather than leave a node that neither serves
nor exits until someone kills it.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import sys
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

# How long threads still running when the node has stopped get to end by themselves.
STRAGGLER_GRACE_S = 1.0
# How long a stop may take in all: twice what its slowest parts are allowed
# (requests in flight 10 s, async events running 10 s, mappings draining 5 s).
STOP_DEADLINE_S = 60.0
# How long an expired deadline waits for the loop to list its tasks (it may be stuck).
TASK_DUMP_WAIT_S = 1.0
# Bounds the coroutines followed down one task's awaits.
MAX_CHAIN = 64


class StopDeadline:
    """Ends the process if a stop is still running ``seconds`` after ``arm``.

    On expiry it logs, dumps every thread's stack and every asyncio task's (what
    each coroutine awaits: a stop that hangs waits in one of them), then exits
    with status 1. ``disarm`` calls it off.
    """

    def __init__(self, seconds: float = STOP_DEADLINE_S) -> None:
        self.seconds = seconds
        self._timer: threading.Timer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def arm(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start counting (``loop``: whose tasks to dump on expiry)."""
        self.disarm()
        self._loop = loop
        timer = threading.Timer(self.seconds, self._expire)
        timer.daemon = True  # Never what holds a normal exit back.
        timer.name = "stop-deadline"
        timer.start()
        self._timer = timer

    def disarm(self) -> None:
        """The stop finished: nothing to end. (A deadline already expiring as the stop
        ends still ends the process, with status 1: a stop that took that long is
        worth the look its dump gives.)"""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        log.error("stop still running after %g s: ending the process", self.seconds)
        _flush()
        faulthandler.dump_traceback(all_threads=True)
        loop, dumped = self._loop, threading.Event()

        def dump_tasks() -> None:
            try:
                for task in asyncio.all_tasks():
                    print(f"Task {task.get_name()} awaits:", file=sys.stderr)
                    for line in await_chain(task):
                        print(f"  {line}", file=sys.stderr)
            finally:
                dumped.set()

        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                loop.call_soon_threadsafe(dump_tasks)
                dumped.wait(TASK_DUMP_WAIT_S)
        _flush()
        os._exit(1)


def await_chain(task: asyncio.Task[Any]) -> list[str]:
    """Where ``task`` waits, outermost coroutine first: each ``file:line in function``
    it is suspended at, down to the future it awaits (a thread dump shows only the
    event loop's frames, not these)."""
    lines: list[str] = []
    awaited: Any = task.get_coro()
    for _ in range(MAX_CHAIN):
        frame = _first(awaited, "cr_frame", "gi_frame")
        if frame is None:
            break
        lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        awaited = _first(awaited, "cr_await", "gi_yieldfrom")
        if awaited is None:
            break
    # At the bottom, the future the task waits on (another task, an event's future).
    waiter = getattr(task, "_fut_waiter", None)
    if waiter is not None:
        lines.append(f"waiting for {waiter!r}")
    return lines


def _first(obj: Any, *names: str) -> Any:
    """The first of ``obj``'s attributes ``names`` that is set (a coroutine and a
    generator name their frame and what they await differently; an async generator's
    ``asend`` shows neither, so a chain ends at the ``async for`` over one)."""
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed file
            stream.flush()


def running_threads() -> list[threading.Thread]:
    """The threads a normal interpreter exit would wait for (not this one)."""
    me = threading.current_thread()
    return [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]


def leave(code: int, grace_s: float = STRAGGLER_GRACE_S) -> int:
    """``code`` if no other thread is left after ``grace_s`` (a normal exit may follow);
    otherwise log the ones still running and end the process now with ``code``."""
    deadline = time.monotonic() + grace_s
    for thread in running_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    stragglers = running_threads()
    if not stragglers:
        return code
    log.warning(
        "leaving %d threads still blocked in calls to outside services: %s",
        len(stragglers),
        ", ".join(sorted(thread.name for thread in stragglers)),
    )
    # os._exit skips the interpreter's own shutdown (which would join them):
    # flush what was written first.
    logging.shutdown()
    _flush()
    os._exit(code)
