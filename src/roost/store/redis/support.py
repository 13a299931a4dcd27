"""Helpers shared by the Redis adapters: revisions, shielded writes, decoding.

A write sent to Redis is applied by the server whatever happens to the caller,
so a cancelled caller must not tear down the connection mid-reply (redis-py
drops a connection whose command was interrupted). ``shielded`` lets the
command finish in its own task, as the SQLite adapters let their transaction
finish on the database thread: cancelling abandons the wait, not the write.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def new_revision() -> str:
    """A fresh revision: random, so it never repeats across nodes or restarts."""
    return uuid.uuid4().hex


async def shielded(operation: Callable[[], Awaitable[T]]) -> T:
    """Run ``operation`` to completion even if the caller is cancelled."""
    task = asyncio.ensure_future(operation())
    # A cancelled caller never reads the outcome; retrieving it here keeps
    # asyncio from reporting an exception nobody retrieved.
    task.add_done_callback(_retrieve)
    return await asyncio.shield(task)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def text(value: bytes | str) -> str:
    """A Redis reply (bytes, as the client does not decode) as text."""
    return value.decode() if isinstance(value, bytes) else value


def optional_text(value: bytes | str | None) -> str | None:
    """Like ``text``, keeping None (a missing field or a Lua ``false``)."""
    return None if value is None else text(value)
