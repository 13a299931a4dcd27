"""Placement: creates an environment on a worker host, with a time-based lease.

A lease bounds how long an environment serves before it is drained (as Lambda
recycles execution environments); idle environments are reaped after the
keep-alive by a background sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from roost.functions.model import FunctionConfig
from roost.worker.environment import ExecutionEnvironment
from roost.worker.host import WorkerHost

log = logging.getLogger(__name__)


class PlacementService:
    """Places environments on the (for now, local) worker host."""

    def __init__(self, host: WorkerHost, lease_s: float, keep_alive_s: float) -> None:
        self.host = host
        self.lease_s = lease_s
        self.keep_alive_s = keep_alive_s
        self._leases: dict[str, float] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def place(
        self, account_id: str, config: FunctionConfig, network: bool = True
    ) -> ExecutionEnvironment:
        """A new, initialised environment of ``config`` with a fresh lease."""
        env = await self.host.create(account_id, config, network)
        self._leases[env.env_id] = time.monotonic() + self.lease_s
        return env

    def lease_expired(self, env: ExecutionEnvironment) -> bool:
        """Whether the environment should drain instead of serving again."""
        return time.monotonic() >= self._leases.get(env.env_id, 0.0)

    async def retire(self, env: ExecutionEnvironment) -> None:
        """Destroy an environment whose lease ended or that failed."""
        self._leases.pop(env.env_id, None)
        await self.host.destroy(env)

    def start(self) -> None:
        """Begin reaping idle environments in the background."""
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        interval = max(0.05, min(self.keep_alive_s / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.host.reap_idle(self.keep_alive_s)
            except Exception:
                log.exception("reaping idle environments failed")

    async def stop(self) -> None:
        """Stop reaping and destroy every environment."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self.host.stop()
