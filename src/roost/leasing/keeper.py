"""``LeaseKeeper``: the generic half of a poller's work acquirer.

One keeper runs per poller process and lease group (a group is a kind of work
a poller can do: the async queues, or the mappings of one event source type).
Each heartbeat (``tick``) it:

1. renews its membership record and every lease it holds;
2. reads the resources to share (a callable, so the set can change) and the
   live members (those whose membership record has not expired);
3. anti-entropy: gives up its own leases on resources whose work reported no
   ``progress`` for longer than ``stall_after_s``, and revokes other holders'
   leases whose published progress is that old;
4. rebalances to a fair share, ``ceil(resources / live members)``: gives up
   resources no longer listed and its surplus, takes free or expired leases up
   to its share.

A listener hears ``on_acquired``/``on_lost`` so the poller starts and stops work.
``stop()`` hands every lease back at once, so the others pick the work up at
their next heartbeat instead of after an expiry.

Leases are **sticky with flexible timeouts**: when the store cannot be reached
(``StoreUnavailable``, or no answer within ``store_timeout_s``) the keeper keeps
the leases it holds and its poller keeps working, until each lease's own expiry
(less a safety margin); only then does it give each one up. A short outage
therefore moves no work at all, and a long one moves work lease by lease as
each expires, rather than all of it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from roost.cancellation import within
from roost.leasing.lease import Lease
from roost.leasing.leases import LeaseLost, LeaseTable
from roost.leasing.liveness import OwnerLiveness, UnknownLiveness
from roost.leasing.shares import by_affinity, fair_share, surplus
from roost.store.errors import StoreUnavailable

log = logging.getLogger(__name__)

# A dead owner's lease is revoked to expire at once: nobody is left to stop.
DEAD_OWNER_GRACE_S = 0.0

T = TypeVar("T")

ResourceSource = Callable[[], Awaitable[Collection[str]]]
"""Returns the resources the group shares right now (queue names, mapping ids)."""


def new_owner_id(role: str) -> str:
    """A unique owner id for one keeper incarnation: role, host, pid and a random suffix.

    A restarted poller must not reuse its predecessor's id, or it would renew
    leases that predecessor held (the table renews by owner id).
    """
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseListener(Protocol):
    """What the poller does when its keeper gains or loses a resource.

    Both run inside the keeper's heartbeat: start or stop work and return
    promptly. An exception is logged and does not stop the keeper.
    """

    async def on_acquired(self, resource: str) -> None:
        """Start working on ``resource``: its lease is held now."""

    async def on_lost(self, resource: str) -> None:
        """Stop working on ``resource``.

        Called before the keeper releases a lease it gives up (so work has
        stopped before anyone else can take it), or once a lease is found lost.
        """


@dataclass(frozen=True)
class KeeperConfig:
    """Timing of a keeper; every keeper of a group should use the same.

    ``heartbeat_s`` defaults to a third of ``ttl_s``, so two heartbeats can
    fail before a lease runs out. ``give_up_margin_s`` (default a tenth of the
    ttl) is how long before its expiry an unrenewable lease is given up, so the
    holder has stopped before another node's clock lets it take over.
    ``store_timeout_s`` (default half a heartbeat) bounds every store call: a
    hung store counts as unavailable. ``stall_after_s`` enables anti-entropy;
    a resource given up for lack of progress is not taken back by the same
    keeper for ``stall_cooldown_s`` (default one ttl), so another can have it.
    """

    ttl_s: float = 10.0
    heartbeat_s: float | None = None
    give_up_margin_s: float | None = None
    store_timeout_s: float | None = None
    stall_after_s: float | None = None
    stall_cooldown_s: float | None = None

    def __post_init__(self) -> None:
        if self.ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        if self.heartbeat_interval_s + self.margin_s >= self.ttl_s:
            raise ValueError("heartbeat plus give-up margin must be shorter than the ttl")
        if self.stall_after_s is not None and self.stall_after_s <= self.heartbeat_interval_s:
            raise ValueError("stall_after_s must be longer than a heartbeat")

    @property
    def heartbeat_interval_s(self) -> float:
        """Seconds between heartbeats."""
        return self.heartbeat_s if self.heartbeat_s is not None else self.ttl_s / 3

    @property
    def margin_s(self) -> float:
        """Seconds before expiry at which an unrenewed lease is given up."""
        return self.give_up_margin_s if self.give_up_margin_s is not None else self.ttl_s / 10

    @property
    def timeout_s(self) -> float:
        """Seconds a store call may take before it counts as unavailable."""
        if self.store_timeout_s is not None:
            return self.store_timeout_s
        return self.heartbeat_interval_s / 2

    @property
    def cooldown_s(self) -> float:
        """Seconds a stalled resource is left for other keepers."""
        return self.stall_cooldown_s if self.stall_cooldown_s is not None else self.ttl_s


@dataclass
class TickResult:
    """What one heartbeat changed (for tests, logs and metrics)."""

    acquired: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    stalled: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    share: int | None = None
    store_available: bool = True


class LeaseKeeper:
    """Holds a fair share of a group's resources for ``owner``.

    ``table`` is the group's lease table: work leases go under its ``work/``
    scope and membership records under ``members/``. ``owner`` must be unique
    per keeper incarnation (see ``new_owner_id``). Drive it with ``start()``
    and ``stop()``, or call ``tick()`` directly (tests do, on a fake clock).
    """

    def __init__(
        self,
        table: LeaseTable,
        owner: str,
        resources: ResourceSource,
        listener: LeaseListener,
        config: KeeperConfig | None = None,
        liveness: OwnerLiveness | None = None,
    ) -> None:
        self.owner = owner
        self.config = config or KeeperConfig()
        # Frees the leases of owners known dead at once, rather than at expiry.
        self._liveness = liveness or UnknownLiveness()
        self._work = table.scoped("work")
        self._members = table.scoped("members")
        self._resources = resources
        self._listener = listener
        self._held: dict[str, Lease] = {}
        self._progress_ms: dict[str, int] = {}
        self._cooldown_until_ms: dict[str, int] = {}
        self._member: Lease | None = None
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> frozenset[str]:
        """Resources whose lease this keeper holds."""
        return frozenset(self._held)

    def holds(self, resource: str) -> bool:
        """Whether work on ``resource`` may go on now (held, and not about to expire).

        A poller can ask this before committing a checkpoint.
        """
        lease = self._held.get(resource)
        margin_ms = round(self.config.margin_s * 1000)
        return lease is not None and self._work.now_ms() < lease.expires_at_ms - margin_ms

    def progress(self, resource: str) -> None:
        """Record that work on ``resource`` advanced (call it after every poll, empty or not)."""
        if resource in self._held:
            self._progress_ms[resource] = self._work.now_ms()

    async def start(self) -> None:
        """Heartbeat in the background every ``heartbeat_interval_s`` until ``stop()``."""
        if self._task is not None or self._stopped:
            raise RuntimeError("a lease keeper starts once")
        self._liveness.register(self.owner)
        self._task = asyncio.create_task(self._run(), name=f"lease-keeper {self.owner}")

    async def stop(self) -> None:
        """Finish the current heartbeat, stop work and release every lease and the membership.

        Others take the resources at their next heartbeat. With the store down,
        the leases are left to expire. Idempotent.
        """
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        async with self._lock:
            if self._stopped:
                return
            self._stopped = True
            result = TickResult()
            for resource in sorted(self._held):
                await self._give_up(resource, result)
            if self._member is not None:
                with contextlib.suppress(StoreUnavailable):
                    await self._guard(self._members.release(self._member))
                self._member = None
            self._liveness.unregister(self.owner)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("lease keeper %s: heartbeat failed", self.owner)
            with contextlib.suppress(TimeoutError):
                await within(self._stopping.wait(), self.config.heartbeat_interval_s)

    async def tick(self) -> TickResult:
        """One heartbeat: renew, sweep, rebalance. Never raises ``StoreUnavailable``."""
        async with self._lock:
            result = TickResult()
            if self._stopped:
                return result
            try:
                await self._heartbeat(result)
                wanted = set(await self._guard(self._resources()))
                members = await self._free_dead(await self._guard(self._members.list()))
                leases = await self._free_dead(await self._guard(self._work.list()), result)
                await self._anti_entropy(leases, result)
                await self._rebalance(wanted, members, leases, result)
            except StoreUnavailable as error:
                log.warning("lease keeper %s: store unavailable: %s", self.owner, error)
                result.store_available = False
                await self._drop_expiring(result)
            return result

    async def _free_dead(
        self, leases: list[Lease], result: TickResult | None = None
    ) -> list[Lease]:
        """Expire, now, the leases (``result`` given: work; else membership) of owners
        known dead (a crashed process on this machine); the others as they are."""
        kept = []
        table = self._work if result is not None else self._members
        for lease in leases:
            if (
                lease.owner == self.owner
                or lease.revoked
                or lease.is_expired(table.now_ms())
                or not self._liveness.is_dead(lease.owner)
            ):
                kept.append(lease)
                continue
            if await self._guard(table.revoke(lease, DEAD_OWNER_GRACE_S)):
                log.info(
                    "lease keeper %s: freed %s of dead %s", self.owner, lease.resource, lease.owner
                )
                if result is not None:
                    result.revoked.append(lease.resource)
        return kept

    async def _guard(self, awaitable: Awaitable[T]) -> T:
        try:
            return await within(awaitable, self.config.timeout_s)
        except TimeoutError:
            raise StoreUnavailable(
                f"lease store did not answer within {self.config.timeout_s:g} s"
            ) from None

    async def _heartbeat(self, result: TickResult) -> None:
        ttl_s = self.config.ttl_s
        if self._member is not None:
            try:
                self._member = await self._guard(self._members.renew(self._member, ttl_s))
            except LeaseLost:
                self._member = None
        if self._member is None:
            self._member = await self._guard(self._members.acquire(self.owner, self.owner, ttl_s))
        for resource, lease in list(self._held.items()):
            progress_ms = self._progress_ms.get(resource)
            try:
                self._held[resource] = await self._guard(
                    self._work.renew(lease, ttl_s, progress_at_ms=progress_ms)
                )
            except LeaseLost as lost:
                log.info("lease keeper %s: %s", self.owner, lost)
                await self._forget(resource, result)

    async def _drop_expiring(self, result: TickResult) -> None:
        """Store down: keep working on each lease until just before its expiry."""
        deadline_ms = self._work.now_ms() + round(self.config.margin_s * 1000)
        for resource, lease in sorted(self._held.items()):
            if lease.expires_at_ms <= deadline_ms:
                log.warning("lease keeper %s: %s expires unrenewed", self.owner, resource)
                await self._forget(resource, result)

    async def _anti_entropy(self, leases: list[Lease], result: TickResult) -> None:
        """Free resources whose work is claimed but not progressing."""
        if self.config.stall_after_s is None:
            return
        now_ms = self._work.now_ms()
        bound_ms = round(self.config.stall_after_s * 1000)
        for resource in sorted(self._held):
            if now_ms - self._progress_ms.get(resource, now_ms) > bound_ms:
                log.warning("lease keeper %s: %s stalled, giving it up", self.owner, resource)
                self._cooldown_until_ms[resource] = now_ms + round(self.config.cooldown_s * 1000)
                result.stalled.append(resource)
                await self._give_up(resource, result)
        # Another holder publishes progress only at its heartbeats: allow one
        # heartbeat of lag before calling it stalled.
        lag_ms = round(self.config.heartbeat_interval_s * 1000)
        for lease in leases:
            if lease.owner == self.owner or lease.revoked or lease.is_expired(now_ms):
                continue
            if now_ms - lease.progress_at_ms > bound_ms + lag_ms:
                # The grace is one heartbeat plus the margin: the holder's next
                # renewal is refused before anyone can take the resource.
                grace_s = self.config.heartbeat_interval_s + self.config.margin_s
                if await self._guard(self._work.revoke(lease, grace_s)):
                    log.warning("lease keeper %s: revoked stalled %s", self.owner, lease.resource)
                    result.revoked.append(lease.resource)

    async def _rebalance(
        self, wanted: set[str], members: list[Lease], leases: list[Lease], result: TickResult
    ) -> None:
        now_ms = self._work.now_ms()
        live = {member.owner for member in members if not member.is_expired(now_ms)}
        share = fair_share(len(wanted), len(live | {self.owner}))
        result.share = share
        for resource in sorted(set(self._held) - wanted):
            await self._give_up(resource, result)
        for resource in surplus(self.owner, self._held, share):
            await self._give_up(resource, result)
        if len(self._held) >= share:
            return
        self._cooldown_until_ms = {
            resource: until for resource, until in self._cooldown_until_ms.items() if until > now_ms
        }
        stored = {lease.resource: lease for lease in leases}
        candidates = [
            resource
            for resource in wanted
            if resource not in self._held
            and resource not in self._cooldown_until_ms
            and self._is_free(stored.get(resource), now_ms)
        ]
        for resource in by_affinity(self.owner, candidates):
            if len(self._held) >= share:
                break
            lease = await self._guard(self._work.acquire(resource, self.owner, self.config.ttl_s))
            if lease is None:
                continue  # another keeper won the race for it
            self._held[resource] = lease
            self._progress_ms[resource] = now_ms
            result.acquired.append(resource)
            await self._notify(self._listener.on_acquired, resource)

    def _is_free(self, lease: Lease | None, now_ms: int) -> bool:
        # A lease stored under our own name that we do not hold locally is one
        # whose acquire timed out after committing: taking it again is safe.
        return lease is None or lease.is_expired(now_ms) or lease.owner == self.owner

    async def _give_up(self, resource: str, result: TickResult) -> None:
        """Stop the work first, then release, so no one else works on it meanwhile."""
        lease = self._held[resource]
        await self._forget(resource, result)
        try:
            await self._guard(self._work.release(lease))
        except StoreUnavailable:
            log.warning("lease keeper %s: %s left to expire", self.owner, resource)

    async def _forget(self, resource: str, result: TickResult) -> None:
        del self._held[resource]
        self._progress_ms.pop(resource, None)
        result.lost.append(resource)
        await self._notify(self._listener.on_lost, resource)

    async def _notify(self, hook: Callable[[str], Awaitable[None]], resource: str) -> None:
        try:
            await hook(resource)
        except Exception:
            log.exception("lease keeper %s: listener failed on %s", self.owner, resource)
