"""The provisioner: keeps provisioned concurrency's environments initialised.

It reconciles the stored configurations (``att/pcc/...``) with the worker host
once a second and whenever the control plane changes something: for each
configuration it resolves the version (through an alias if need be), starts
environments until the requested number are initialised, pins them so the
keep-alive reaper leaves them alone, and releases the ones no longer wanted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from roost.cancellation import cancel_and_wait, within
from roost.frontend.invoke.function_cache import FunctionCache
from roost.frontend.invoke.placement import PlacementService
from roost.functions.model import FunctionConfig, State
from roost.functions.naming import LATEST, is_version
from roost.store.errors import StoreUnavailable
from roost.store.ports import ConfigStore
from roost.worker.environment import ExecutionEnvironment, RuntimeStatus
from roost.worker.host import version_key

log = logging.getLogger(__name__)

Target = tuple[str, str, str]
"""(account, function, qualifier)."""


class ProvisionedConcurrencyManager:
    """Reconciles provisioned environments with their configurations."""

    def __init__(
        self,
        store: ConfigStore,
        cache: FunctionCache,
        placement: PlacementService,
        interval_s: float = 1.0,
    ) -> None:
        self._store = store
        self._cache = cache
        self._placement = placement
        self._interval_s = interval_s
        self._environments: dict[Target, list[ExecutionEnvironment]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def allocated(self, account_id: str, name: str, qualifier: str) -> int:
        """Initialised environments held for a configuration now."""
        envs = self._environments.get((account_id, name, qualifier), [])
        return sum(1 for e in envs if e.status is not RuntimeStatus.DEAD)

    def poke(self) -> None:
        """Reconcile soon (called after control-plane writes)."""
        self._wake.set()

    async def _targets(self) -> dict[Target, int]:
        found: dict[Target, int] = {}
        for item in await self._store.list("att/pcc/"):
            _, _, account_id, name, qualifier = item.key.split("/", 4)
            found[(account_id, name, qualifier)] = int(item.value["requested"])
        return found

    async def _config(self, target: Target) -> tuple[FunctionConfig, bool] | None:
        """The version a configuration provisions, and whether it has network."""
        account_id, name, qualifier = target
        view = await self._cache.get(account_id, name)
        if view is None:
            return None
        version = qualifier
        if not is_version(qualifier):
            alias = view.aliases.get(qualifier)
            if alias is None:
                return None
            version = alias.function_version
        config = view.record.latest if version == LATEST else view.versions.get(version)
        if config is None or config.state is not State.ACTIVE:
            return None
        return config, view.network

    async def reconcile(self) -> None:
        """One pass: start what is missing, release what is no longer wanted."""
        targets = await self._targets()
        for target in list(self._environments):
            if target not in targets:
                await self._shrink(target, 0)
        for target, requested in targets.items():
            found = await self._config(target)
            if found is None:
                await self._shrink(target, 0)
                continue
            await self._grow(target, *found, requested)
            await self._shrink(target, requested)

    async def _grow(
        self, target: Target, config: FunctionConfig, network: bool, requested: int
    ) -> None:
        host = self._placement.host
        key = version_key(target[0], config, network)
        held: list[ExecutionEnvironment] = []
        for env in self._environments.get(target, []):
            if env.status is not RuntimeStatus.DEAD and host.key_of(env.env_id) == key:
                held.append(env)
            else:
                # Another version, revision or network setting: not this target's any more.
                await self._release(env)
        while len(held) < requested:
            env = await self._placement.place(target[0], config, network)
            env.mark_initialised_ahead()
            host.pin(env.env_id)
            host.checkin(env)
            held.append(env)
        self._environments[target] = held

    async def _shrink(self, target: Target, keep: int) -> None:
        held = self._environments.get(target, [])
        while len(held) > keep:
            await self._release(held.pop())
        if not held:
            self._environments.pop(target, None)

    async def _release(self, env: ExecutionEnvironment) -> None:
        """Unpin an environment and retire it unless an invoke is using it."""
        host = self._placement.host
        host.unpin(env.env_id)
        if env.status is RuntimeStatus.READY and env.env_id in host.environments:
            await self._placement.retire(env)

    def start(self) -> None:
        """Reconcile every ``interval_s`` and on ``poke``."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except StoreUnavailable as error:
                # Static stability: keep what is provisioned until the store is back.
                log.warning("provisioned concurrency not reconciled: %s", error)
            except Exception:
                log.exception("provisioned concurrency reconciliation failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), self._interval_s)

    async def stop(self) -> None:
        """Stop reconciling (the host destroys the environments)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
