"""Waiting and stopping without losing a cancellation.

Background loops (reconcilers, heartbeats, reapers) are stopped by cancelling
their task, so a cancellation that gets lost leaves a loop running and its
owner's ``stop`` waiting for it forever. Two ways of losing one are common:

- On Python 3.11, ``asyncio.wait_for`` drops a cancellation when what it
  waits for finishes in the same loop pass as the cancel arrives: it returns
  the result instead (CPython gh-86296; 3.12 rebuilt ``wait_for`` on
  ``asyncio.timeout``). A node's shutdown hung that way in the ESM reconciler,
  woken by a mapping change as the stop cancelled it. ``within`` means what
  ``wait_for`` means, on ``asyncio.timeout``, which delivers every
  cancellation; the package's ruff settings ban ``asyncio.wait_for``.
- ``with suppress(CancelledError): await task`` after ``task.cancel()`` also
  swallows a cancellation of the caller itself, so a stop that is given a
  deadline cannot be cut short. ``cancel_and_wait`` raises that one.

``all_ended`` is ``gather`` that lets every awaitable end before it raises the
first failure, so none is left running unwatched with its own failure unheard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar, cast

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout_s: float | None) -> T:
    """``await awaitable``, raising ``TimeoutError`` after ``timeout_s`` (None: no limit).

    On a timeout the awaitable is cancelled, as with ``wait_for``.
    """
    async with asyncio.timeout(timeout_s):
        return await awaitable


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has ended.

    Its own cancellation is expected and not raised; an error it ended with
    is. A cancellation of the caller while it waits is raised (``task`` stays
    cancelled and ends on its own).
    """
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error


async def all_ended(*awaitables: Awaitable[T]) -> list[T]:
    """Every result, in order, once all have ended; the first failure raised then."""
    outcomes = await asyncio.gather(*awaitables, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return cast(list[T], outcomes)
