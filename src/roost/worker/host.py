"""A worker host: the environments of one machine, within its memory budget.

The host keeps each function version's idle environments warm (most recently
used first), creates new ones from the code cache, evicts idle environments
least-recently-used when a new one would not fit the memory budget, and reaps
environments idle for longer than the keep-alive.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from roost.functions.model import FunctionConfig
from roost.store.ports import CodeStore
from roost.worker.cgroups import CgroupManager
from roost.worker.code_cache import CodeCache
from roost.worker.environment import ExecutionEnvironment, RuntimeStatus
from roost.worker.prewarm import PrewarmPool, link_tree
from roost.worker.process import Launcher, launch_direct
from roost.worker.sandbox import (
    SANDBOX_UID,
    TASK_ROOT,
    SandboxSpec,
    runtime_interpreter,
    sandbox_interpreter,
)
from roost.worker.sandbox_area import SandboxArea
from roost.worker.zygote import ZygoteFleet

log = logging.getLogger(__name__)

VersionKey = tuple[str, str, str, str, bool]
"""(account, function, version, revision, network): environments never outlive a
config, and a change of network access takes effect at once."""


# Packages up to this many files are linked into a pooled slot on the event
# loop (a cold start's critical path); bigger ones in a thread.
INLINE_LINK_ENTRIES = 64


class HostFull(Exception):
    """No room for another environment even after evicting idle ones.

    ``reason`` says which cap: ``environments`` (``max_environments``) or
    ``memory`` (``memory_budget_mb``).
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class HostSettings:
    """How a worker host runs its environments."""

    memory_budget_mb: int = 8192
    prewarm_per_size: int = 2
    sandboxed: bool = True
    network: bool = True
    region: str = "us-east-1"
    zygote: bool = True
    # Hard cap on environments serving functions (busy, idle or starting) on
    # this host; None: only the memory budget bounds them. Pooled empty
    # sandboxes are bounded by ``prewarm_per_size`` instead.
    max_environments: int | None = None


# What a pooled environment has before it knows its function.
BLANK_ENVIRONMENT = {
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
}


def version_key(account_id: str, config: FunctionConfig, network: bool = True) -> VersionKey:
    """The pool an environment of ``config`` belongs to."""
    return (account_id, config.name, config.version, config.revision_id, network)


def function_environment(
    account_id: str, region: str, config: FunctionConfig, env_id: str, task_root: str
) -> dict[str, str]:
    """The variables AWS sets in an execution environment, then the user's."""
    stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{config.version}]{env_id}"
    values = {
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": task_root,
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": config.handler or "",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_VERSION": config.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_ACCOUNT_ID": account_id,
    }
    values.update(config.environment)
    return values


@dataclass(frozen=True)
class HostCapacity:
    """A worker host's caps and what is in use of them, for ``/metrics``."""

    max_environments: int | None
    function_environments: int
    memory_budget_mb: int
    memory_in_use_mb: int
    refused: dict[str, int]
    # Environments serving an invoke (or starting for one) and their memory:
    # what backpressure reads (idle ones can be evicted, so they press nothing).
    busy_environments: int = 0
    busy_memory_mb: int = 0


class WorkerHost:
    """Creates, pools, evicts and destroys execution environments."""

    def __init__(self, area: SandboxArea, code: CodeStore, settings: HostSettings) -> None:
        self.settings = settings
        self._area = area
        self._code_cache = CodeCache(area.code_dir, code)
        self._cgroups = CgroupManager()
        swept = self._cgroups.sweep()
        if swept:
            log.info("removed %d empty cgroups left by earlier workers", swept)
        self._idle: OrderedDict[str, ExecutionEnvironment] = OrderedDict()
        self._pools: dict[VersionKey, list[ExecutionEnvironment]] = {}
        self._keys: dict[str, VersionKey] = {}
        self._pinned: set[str] = set()
        self._slots: dict[str, Path] = {}
        self.prewarm = PrewarmPool(self._create_blank, settings.prewarm_per_size)
        self.environments: dict[str, ExecutionEnvironment] = {}
        self.zygotes: ZygoteFleet | None = None
        self._launcher: Launcher = launch_direct
        if settings.sandboxed and settings.zygote:
            zygote_environment = {**BLANK_ENVIRONMENT, "ROOST_PREWARMED": "1"}
            self.zygotes = ZygoteFleet(area.runtime_dir, area.slots_dir, zygote_environment)
            self._launcher = self.zygotes.launch
        self._discarding: set[asyncio.Task[None]] = set()
        # Creates that passed the environment cap and have no VersionKey yet:
        # they hold a slot of the cap while they start.
        self._claims = 0
        # Creates refused since start, by cap (``HostFull.reason``).
        self.refused: dict[str, int] = {"environments": 0, "memory": 0}

    @property
    def function_environments(self) -> int:
        """Environments serving functions (keyed or starting): what the cap counts."""
        return len(self._keys) + self._claims

    def capacity(self) -> HostCapacity:
        """Caps, use and refusals now."""
        busy = [
            env
            for env_id, env in self.environments.items()
            if env_id in self._keys and env_id not in self._idle
        ]
        return HostCapacity(
            max_environments=self.settings.max_environments,
            function_environments=self.function_environments,
            memory_budget_mb=self.settings.memory_budget_mb,
            memory_in_use_mb=self.memory_in_use_mb,
            refused=dict(self.refused),
            busy_environments=len(busy) + self._claims,
            busy_memory_mb=sum(e.spec.memory_mb for e in busy),
        )

    @property
    def memory_in_use_mb(self) -> int:
        """Memory of every live environment (idle or busy)."""
        return sum(e.spec.memory_mb for e in self.environments.values())

    def checkout(self, key: VersionKey) -> ExecutionEnvironment | None:
        """A warm idle environment of exactly this version, if any."""
        pool = self._pools.get(key)
        while pool:
            env = pool.pop()
            self._idle.pop(env.env_id, None)
            if env.status is RuntimeStatus.READY:
                return env
        return None

    def idle_counts(self) -> dict[VersionKey, int]:
        """Warm idle environments per version (what a cluster heartbeat advertises)."""
        return {key: len(pool) for key, pool in self._pools.items() if pool}

    def key_of(self, env_id: str) -> VersionKey | None:
        """The pool an environment of this host belongs to (None if it is gone)."""
        return self._keys.get(env_id) if env_id in self.environments else None

    def checkin(self, env: ExecutionEnvironment) -> None:
        """Return an environment after an invoke; a dead one is not kept."""
        if env.status is not RuntimeStatus.READY:
            return
        self._pools.setdefault(self._keys[env.env_id], []).append(env)
        self._idle[env.env_id] = env

    def _prewarmable(self, config: FunctionConfig, network: bool) -> bool:
        # Pooled sandboxes run Roost's Python client with the node's network.
        runtime = config.runtime or ""
        if not (self.settings.sandboxed and runtime.startswith("python") and network):
            return False
        # The pool runs the default interpreter; a runtime with its own exact
        # interpreter installed (python3.12 -> /usr/bin/python3.12) starts fresh.
        pooled = sandbox_interpreter()
        return (runtime_interpreter(runtime) or pooled) == pooled

    async def create(
        self, account_id: str, config: FunctionConfig, network: bool = True
    ) -> ExecutionEnvironment:
        """Start a new environment of ``config`` (evicting idle ones to make room).

        A pre-warmed environment of the right size is assigned when there is one.
        ``network`` False cuts this function off; the node's setting can only
        cut functions off, never grant them network. Raises ``HostFull`` when
        the host is at its environment cap and has nothing idle to evict.
        """
        await self._claim_slot()
        try:
            env = await self._start_for(account_id, config, network)
            # Keyed only now, atomically with giving the claim back, so that a
            # starting environment counts against the cap exactly once.
            if env.env_id in self.environments:
                self._keys[env.env_id] = version_key(account_id, config, network)
            return env
        finally:
            self._claims -= 1

    async def _claim_slot(self) -> None:
        """Hold a slot of ``max_environments``, evicting idle environments (LRU) for it."""
        cap = self.settings.max_environments
        if cap is None:
            self._claims += 1
            return
        while self.function_environments >= cap:
            oldest = next((e for e in self._idle.values() if e.env_id not in self._pinned), None)
            if oldest is None:
                self.refused["environments"] += 1
                raise HostFull(f"{cap} environments already on this host", "environments")
            log.info("evicting idle environment %s for the environment cap", oldest.env_id)
            await self.destroy(oldest)
        self._claims += 1  # No await since the check: the slot is ours.

    async def _start_for(
        self, account_id: str, config: FunctionConfig, network: bool
    ) -> ExecutionEnvironment:
        code_dir = await self._code_cache.ensure(config.code.sha256_hex)
        if self._prewarmable(config, network):
            pooled = self.prewarm.take((config.memory_mb, config.ephemeral_storage_mb))
            if pooled is not None:
                return await self._assign(pooled, account_id, config, code_dir)
        if self._forkable(config, network):
            # No pooled one: a fork of the zygote is still far quicker than a
            # fresh sandbox and interpreter.
            blank = await self._create_blank(
                config.memory_mb, config.ephemeral_storage_mb, config.runtime or "python3"
            )
            if blank.status is RuntimeStatus.POOLED:
                return await self._assign(blank, account_id, config, code_dir)
        await self._make_room(config.memory_mb)
        env_id = uuid.uuid4().hex
        sandboxed = self.settings.sandboxed
        task_root = TASK_ROOT if sandboxed else str(code_dir)
        limits = None
        if self._cgroups.available:
            limits = self._cgroups.create(
                f"env-{env_id}", config.memory_mb * 1024 * 1024, 1024, SANDBOX_UID
            )
        spec = SandboxSpec(
            env_id=env_id,
            runtime=config.runtime or "provided.al2023",
            code_dir=code_dir,
            environment=function_environment(
                account_id, self.settings.region, config, env_id, task_root
            ),
            memory_mb=config.memory_mb,
            ephemeral_storage_mb=config.ephemeral_storage_mb,
            network=self.settings.network and network,
            runtime_client_dir=self._area.runtime_dir,
            api_socket=self._area.socket_dir / f"{env_id}.sock",
            limits=limits,
        )
        env = self._environment(env_id, spec, config.version, config.timeout_s, sandboxed)
        await env.start()
        return env

    def _forkable(self, config: FunctionConfig, network: bool) -> bool:
        """Whether a zygote can make this function's environment."""
        if self.zygotes is None or not (self.settings.network and network):
            return False
        return self.zygotes.interpreter_for(config.runtime or "", network=True) is not None

    def _environment(
        self, env_id: str, spec: SandboxSpec, version: str, timeout_s: float, sandboxed: bool
    ) -> ExecutionEnvironment:
        env = ExecutionEnvironment(env_id, spec, version, timeout_s, sandboxed, self._launcher)
        env.on_exit = self._on_exit
        self.environments[env_id] = env
        return env

    def _on_exit(self, env: ExecutionEnvironment) -> None:
        """An environment's process ended: drop it now if nobody is using it.

        One in use is destroyed by its invoke; an idle or pooled one (its
        function exited between invokes, or its zygote died) would otherwise
        hold its memory until it is next looked at.
        """
        if env.env_id not in self.environments:
            return  # already being destroyed
        pooled = self.prewarm.discard(env)
        if not pooled and env.env_id not in self._idle:
            return
        task = asyncio.get_running_loop().create_task(self.destroy(env))
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)

    async def _create_blank(
        self, memory_mb: int, ephemeral_mb: int, runtime: str = "python3"
    ) -> ExecutionEnvironment:
        """A pooled environment: runtime started, no function yet."""
        await self._make_room(memory_mb)
        env_id = uuid.uuid4().hex
        slot = self._area.slots_dir / env_id
        slot.mkdir(mode=0o755)
        self._slots[env_id] = slot
        limits = None
        if self._cgroups.available:
            limits = self._cgroups.create(
                f"env-{env_id}", memory_mb * 1024 * 1024, 1024, SANDBOX_UID
            )
        spec = SandboxSpec(
            env_id=env_id,
            runtime=runtime,
            code_dir=slot,
            environment={**BLANK_ENVIRONMENT, "ROOST_PREWARMED": "1"},
            memory_mb=memory_mb,
            ephemeral_storage_mb=ephemeral_mb,
            network=self.settings.network,
            runtime_client_dir=self._area.runtime_dir,
            api_socket=self._area.socket_dir / f"{env_id}.sock",
            limits=limits,
        )
        env = self._environment(env_id, spec, "$LATEST", 3.0, sandboxed=True)
        await env.start(prewarmed=True)
        if env.status is not RuntimeStatus.POOLED:
            await self.destroy(env)
        return env

    async def _assign(
        self,
        env: ExecutionEnvironment,
        account_id: str,
        config: FunctionConfig,
        code_dir: Path,
    ) -> ExecutionEnvironment:
        slot = self._slots[env.env_id]
        entries = self._code_cache.entries(config.code.sha256_hex)
        if entries is not None and entries <= INLINE_LINK_ENTRIES:
            link_tree(code_dir, slot)  # A few links cost less than a thread hop.
        else:
            await asyncio.to_thread(link_tree, code_dir, slot)
        variables = function_environment(
            account_id, self.settings.region, config, env.env_id, TASK_ROOT
        )
        await env.assign(config.version, config.timeout_s, variables)
        return env

    async def prefetch(self, config: FunctionConfig) -> None:
        """Extract ``config``'s package into the code cache ahead of its first invoke."""
        await self._code_cache.ensure(config.code.sha256_hex)

    async def destroy(self, env: ExecutionEnvironment) -> None:
        """Tear an environment down and forget it."""
        self.environments.pop(env.env_id, None)
        self._idle.pop(env.env_id, None)
        self._pinned.discard(env.env_id)
        key = self._keys.pop(env.env_id, None)
        if key is not None and env in self._pools.get(key, []):
            self._pools[key].remove(env)
        await env.destroy()
        slot = self._slots.pop(env.env_id, None)
        if slot is not None:
            await asyncio.to_thread(shutil.rmtree, slot, True)

    async def _make_room(self, memory_mb: int) -> None:
        budget = self.settings.memory_budget_mb
        evictable = [e for e in self._idle.values() if e.env_id not in self._pinned]
        while self.memory_in_use_mb + memory_mb > budget and evictable:
            oldest = evictable.pop(0)
            log.info("evicting idle environment %s to make room", oldest.env_id)
            await self.destroy(oldest)
        if self.memory_in_use_mb + memory_mb > budget:
            self.refused["memory"] += 1
            raise HostFull(f"no room for {memory_mb} MB within {budget} MB", "memory")

    def pin(self, env_id: str) -> None:
        """Keep an environment however long it idles (provisioned concurrency)."""
        self._pinned.add(env_id)

    def unpin(self, env_id: str) -> None:
        """Let an environment be reaped and evicted again."""
        self._pinned.discard(env_id)

    async def reap_idle(self, keep_alive_s: float) -> int:
        """Destroy unpinned environments idle for longer than ``keep_alive_s``."""
        now = time.monotonic()
        stale = [
            e
            for e in self._idle.values()
            if now - e.last_used > keep_alive_s and e.env_id not in self._pinned
        ]
        for env in stale:
            await self.destroy(env)
        return len(stale)

    async def stop(self) -> None:
        """Destroy every environment (pooled ones included), then the zygotes."""
        await self.prewarm.stop()
        for env in list(self.environments.values()):
            await self.destroy(env)
        for task in list(self._discarding):
            await task
        if self.zygotes is not None:
            await self.zygotes.stop()
