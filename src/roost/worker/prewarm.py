"""Pre-warmed pools: empty environments, started ahead, waiting for a function.

Like Lambda's pools of empty microVMs in several memory sizes, the worker keeps
a few sandboxes per (memory, /tmp size) whose Python runtime client is already
running. Assigning one to a function links the extracted package into its
(initially empty, read-only mounted) ``/var/task``, hands it the function's
environment variables and lets it import the handler: no sandbox or interpreter
start-up on the cold path. Used slots are refilled in the background.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from roost.cancellation import cancel_and_wait
from roost.worker.environment import ExecutionEnvironment, RuntimeStatus

log = logging.getLogger(__name__)

PoolKey = tuple[int, int]
"""(memory MB, ephemeral storage MB): what a sandbox fixes when it starts."""

CreateBlank = Callable[[int, int], Awaitable[ExecutionEnvironment]]


def link_tree(source: Path, target: Path) -> None:
    """Fill ``target`` with hard links to ``source``'s files (copies across devices)."""
    for directory, dirnames, filenames in os.walk(source):
        relative = Path(directory).relative_to(source)
        (target / relative).mkdir(parents=True, exist_ok=True)
        for name in dirnames + filenames:
            origin = Path(directory) / name
            destination = target / relative / name
            if origin.is_symlink():
                os.symlink(os.readlink(origin), destination)
            elif origin.is_file():
                try:
                    os.link(origin, destination)
                except OSError:
                    shutil.copy2(origin, destination)


class PrewarmPool:
    """Keeps ``per_size`` pooled environments for every size asked for."""

    def __init__(self, create_blank: CreateBlank, per_size: int) -> None:
        self._create_blank = create_blank
        self.per_size = per_size
        self._pools: dict[PoolKey, list[ExecutionEnvironment]] = {}
        self._filling: dict[PoolKey, asyncio.Task[None]] = {}
        self._stopped = False

    def size(self, key: PoolKey) -> int:
        """Environments waiting in a pool now."""
        return len(self._pools.get(key, []))

    def take(self, key: PoolKey) -> ExecutionEnvironment | None:
        """A pooled environment of that size (refilled behind), or None."""
        pool = self._pools.setdefault(key, [])
        # Refilled at once: a fork from the zygote is cheap, and back-to-back cold
        # starts found the pool empty when the refill waited.
        self.warm(key)
        while pool:
            env = pool.pop()
            if env.status is RuntimeStatus.POOLED:
                return env
        return None

    def discard(self, env: ExecutionEnvironment) -> bool:
        """Forget a pooled environment that died (refilling behind); whether it was here."""
        for key, pool in self._pools.items():
            if env in pool:
                pool.remove(env)
                self.warm(key)
                return True
        return False

    def warm(self, key: PoolKey) -> None:
        """Fill the pool of ``key`` up to ``per_size`` in the background."""
        if self.per_size <= 0 or key in self._filling or self._stopped:
            return
        task = asyncio.get_running_loop().create_task(self._fill(key))
        self._filling[key] = task
        task.add_done_callback(lambda _: self._filling.pop(key, None))

    async def _fill(self, key: PoolKey) -> None:
        pool = self._pools.setdefault(key, [])
        while len(pool) < self.per_size:
            try:
                env = await self._create_blank(*key)
            except Exception:
                log.exception("could not pre-warm a %s MB environment", key[0])
                return
            if env.status is not RuntimeStatus.POOLED:
                return  # It failed to start; the host already cleaned it up.
            pool.append(env)

    async def stop(self) -> None:
        """Stop filling for good (the host destroys the pooled environments)."""
        self._stopped = True
        for task in list(self._filling.values()):
            await cancel_and_wait(task)
