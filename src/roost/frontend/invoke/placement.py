"""Placement: creates an environment on a worker host, with a time-based lease.

A lease bounds how long an environment serves before it is drained (as Lambda
recycles execution environments); idle environments are reaped after the
keep-alive by a background sweep.

Placement chooses among worker hosts through a ``BreakerBoard``: a host whose
environments keep failing to start through Roost's fault (the launch raised,
or the runtime died before init without reporting an error) opens its breaker
and is avoided while another host exists. Function errors (an init error the
runtime reported, an init timeout) say nothing about the host and are not
counted. With one host, or with every host failing at once (a fleet-wide
fault), the board keeps every host usable: a shared outage must not become a
total one. A fault hook (``FaultTarget.WORKER_HOST``, tests only) is awaited
before each create, as if the host's launch were slow or failing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from roost.cancellation import cancel_and_wait
from roost.flow.circuit_breaker import HOST_BREAKERS, BreakerBoard
from roost.functions.model import FunctionConfig
from roost.store.faults import FaultHook
from roost.worker.environment import ExecutionEnvironment
from roost.worker.host import HostFull, VersionKey, WorkerHost

LOCAL_HOST = "local"

log = logging.getLogger(__name__)


class PlacementService:
    """Places environments on worker hosts (``host`` is the node's own, the first)."""

    def __init__(
        self,
        host: WorkerHost,
        lease_s: float,
        keep_alive_s: float,
        *,
        others: Mapping[str, WorkerHost] | None = None,
        breakers: BreakerBoard | None = None,
        faults: FaultHook | None = None,
    ) -> None:
        self.host = host
        self._faults = faults
        self.hosts: dict[str, WorkerHost] = {LOCAL_HOST: host, **(others or {})}
        self.lease_s = lease_s
        self.keep_alive_s = keep_alive_s
        self.breakers = breakers or BreakerBoard(HOST_BREAKERS)
        self.breakers.register(self.hosts)
        self._leases: dict[str, float] = {}
        self._host_of: dict[str, str] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def place(
        self, account_id: str, config: FunctionConfig, network: bool = True
    ) -> ExecutionEnvironment:
        """A new, initialised environment of ``config`` with a fresh lease.

        Hosts whose breaker is open are skipped while another is usable; a host
        that is full or faults is passed over for the next; the last error is
        raised when none could place it.
        """
        failure: Exception | None = None
        for host_id in self._candidates():
            try:
                if self._faults is not None:
                    await self._faults()
                env = await self.hosts[host_id].create(account_id, config, network)
            except HostFull as full:
                failure = full
                continue
            except Exception as error:  # A spawn fault: the host's, not the function's.
                log.warning("host %s could not start an environment: %s", host_id, error)
                self.breakers.record_failure(host_id)
                failure = error
                continue
            if env.init_failed_unreported:
                self.breakers.record_failure(host_id)
            else:
                self.breakers.record_success(host_id)
            self._leases[env.env_id] = time.monotonic() + self.lease_s
            self._host_of[env.env_id] = host_id
            return env
        assert failure is not None
        raise failure

    def _candidates(self) -> list[str]:
        """Usable hosts first, least memory in use first; the others after them."""
        usable = sorted(
            self.breakers.usable(self.hosts), key=lambda h: self.hosts[h].memory_in_use_mb
        )
        return usable + [h for h in self.hosts if h not in usable]

    def checkout(self, key: VersionKey) -> ExecutionEnvironment | None:
        """A warm idle environment of ``key`` on any host, or None."""
        for host in self.hosts.values():
            env = host.checkout(key)
            if env is not None:
                return env
        return None

    def checkin(self, env: ExecutionEnvironment) -> None:
        """Put ``env`` back among its host's idle environments."""
        self._host(env).checkin(env)

    def _host(self, env: ExecutionEnvironment) -> WorkerHost:
        return self.hosts.get(self._host_of.get(env.env_id, LOCAL_HOST), self.host)

    def lease_expired(self, env: ExecutionEnvironment) -> bool:
        """Whether the environment should drain instead of serving again."""
        return time.monotonic() >= self._leases.get(env.env_id, 0.0)

    async def retire(self, env: ExecutionEnvironment) -> None:
        """Destroy an environment whose lease ended or that failed."""
        self._leases.pop(env.env_id, None)
        host = self._host(env)
        self._host_of.pop(env.env_id, None)
        await host.destroy(env)

    def start(self) -> None:
        """Begin reaping idle environments in the background."""
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        interval = max(0.05, min(self.keep_alive_s / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            for host in list(self.hosts.values()):
                try:
                    await host.reap_idle(self.keep_alive_s)
                except Exception:
                    log.exception("reaping idle environments failed")

    async def stop(self) -> None:
        """Stop reaping and destroy every environment."""
        if self._reaper is not None:
            await cancel_and_wait(self._reaper)
        for host in self.hosts.values():
            await host.stop()
