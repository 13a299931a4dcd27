"""Assignment: a warm idle environment of the exact version, else a new one.

Environments go back to the warm pool after an invoke unless they died or their
placement lease ended, in which case they drain (are destroyed).
"""

from __future__ import annotations

import asyncio

from roost.flow.counting import throttled
from roost.flow.scaling import ScalingLimiter
from roost.frontend.invoke.placement import PlacementService
from roost.functions.model import FunctionConfig
from roost.worker.environment import ExecutionEnvironment, RuntimeStatus
from roost.worker.host import HostFull, version_key


class AssignmentService:
    """Hands out environments for invokes and takes them back."""

    def __init__(self, placement: PlacementService, scaling: ScalingLimiter) -> None:
        self._placement = placement
        self._scaling = scaling

    async def acquire(
        self, account_id: str, config: FunctionConfig, network: bool = True
    ) -> ExecutionEnvironment:
        """An environment ready to run one invoke of ``config``.

        A new environment must pass the function's scaling limit; a host at its
        environment cap or with no memory left for it throttles the invoke (429
        with ``Retry-After``) rather than queueing it.
        """
        warm = self._placement.checkout(version_key(account_id, config, network))
        if warm is not None:
            return warm
        self._scaling.admit_new_environment(account_id, config.name)
        placing = asyncio.ensure_future(self._placement.place(account_id, config, network))
        try:
            # Shielded: an invoke abandoned while its environment starts must not
            # strand the environment outside the warm pool.
            return await asyncio.shield(placing)
        except asyncio.CancelledError:
            placing.add_done_callback(self._adopt)
            raise
        except HostFull:
            raise throttled("ConcurrentInvocationLimitExceeded") from None

    def _adopt(self, placing: asyncio.Future[ExecutionEnvironment]) -> None:
        """Put an environment whose invoke went away into the warm pool."""
        if placing.cancelled() or placing.exception() is not None:
            return
        env = placing.result()
        asyncio.get_running_loop().create_task(self.release(env))

    async def release(self, env: ExecutionEnvironment) -> None:
        """Take an environment back after its invoke."""
        if env.status is RuntimeStatus.READY and not self._placement.lease_expired(env):
            self._placement.checkin(env)
        else:
            await self._placement.retire(env)
