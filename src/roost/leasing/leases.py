"""``LeaseTable``: leases kept as documents in the ``ConfigStore``.

Every lease is one document under ``{prefix}{resource}``. Each change is a
conditional write (``if_absent`` for a free resource, ``if_revision`` for one
read a moment ago), so of two owners racing for the same resource exactly one
commit goes through and the other sees ``ConditionFailed``; this holds inside
one process and across processes sharing a database, as the store port
guarantees it for every adapter. No lock is held between calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from roost.leasing.lease import Lease
from roost.store.errors import ConditionFailed
from roost.store.ports import ConfigStore, Delete, Put

DEFAULT_PREFIX = "lease/"
_PAGE = 500


class LeaseLost(Exception):
    """A renewal found the lease released, or held by another owner."""

    def __init__(self, resource: str, holder: str | None) -> None:
        who = "released" if holder is None else f"held by {holder!r}"
        super().__init__(f"lease on {resource!r} lost: {who}")
        self.resource = resource
        self.holder = holder


def _ttl_ms(ttl_s: float) -> int:
    if ttl_s <= 0:
        raise ValueError(f"lease ttl must be positive, got {ttl_s}")
    return max(1, round(ttl_s * 1000))


class LeaseTable:
    """Acquire, renew and release leases on named resources.

    ``clock`` returns Unix seconds (``time.time`` by default: expiries are
    compared across nodes, so a monotonic clock of one process would not do).
    ``scoped(name)`` gives a table over a sub-prefix of the same store, so one
    group of pollers can keep its work leases and its membership records apart.
    Store errors other than lost races (``StoreUnavailable``) propagate.
    """

    def __init__(
        self,
        store: ConfigStore,
        prefix: str = DEFAULT_PREFIX,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not prefix:
            raise ValueError("a lease table needs a key prefix of its own")
        self._store = store
        self.prefix = prefix
        self._clock = clock

    def scoped(self, name: str) -> LeaseTable:
        """A table over ``{prefix}{name}/`` sharing this one's store and clock."""
        return LeaseTable(self._store, f"{self.prefix}{name}/", clock=self._clock)

    def now_ms(self) -> int:
        """The table's clock in epoch milliseconds."""
        return int(self._clock() * 1000)

    def key(self, resource: str) -> str:
        """The store key of ``resource``'s lease."""
        if not resource:
            raise ValueError("a lease needs a resource name")
        return f"{self.prefix}{resource}"

    async def get(self, resource: str) -> Lease | None:
        """The stored lease of ``resource``, expired or not; None if free."""
        item = await self._store.get(self.key(resource))
        if item is None:
            return None
        return Lease.from_document(resource, item.value, item.revision)

    async def list(self, prefix: str = "") -> list[Lease]:
        """Every stored lease whose resource starts with ``prefix``, in resource order."""
        found: list[Lease] = []
        start_after: str | None = None
        while True:
            items = await self._store.list(
                self.prefix + prefix, start_after=start_after, limit=_PAGE
            )
            for item in items:
                resource = item.key[len(self.prefix) :]
                found.append(Lease.from_document(resource, item.value, item.revision))
            if len(items) < _PAGE:
                return found
            start_after = items[-1].key

    async def acquire(self, resource: str, owner: str, ttl_s: float) -> Lease | None:
        """Take ``resource`` for ``ttl_s`` if it is free or expired; None if someone holds it.

        Acquiring a lease ``owner`` already holds extends it (idempotent). Of
        several owners racing, exactly one gets a lease; the others get None.
        """
        now = self.now_ms()
        expires = now + _ttl_ms(ttl_s)
        current = await self.get(resource)
        if current is None:
            lease = Lease(resource, owner, expires, "", now, 0, now)
            write = Put(self.key(resource), lease.to_document(), if_absent=True)
        elif current.owner == owner and not current.revoked:
            lease = replace(current, expires_at_ms=expires, renew_count=current.renew_count + 1)
            write = Put(self.key(resource), lease.to_document(), if_revision=current.revision)
        elif not current.is_expired(now):
            return None
        else:
            lease = Lease(resource, owner, expires, "", now, 0, now)
            write = Put(self.key(resource), lease.to_document(), if_revision=current.revision)
        try:
            result = await self._store.commit([write])
        except ConditionFailed:
            return None
        return replace(lease, revision=result.revisions[write.key])

    async def renew(
        self, lease: Lease, ttl_s: float, *, progress_at_ms: int | None = None
    ) -> Lease:
        """Heartbeat: extend ``lease`` to ``ttl_s`` from now; raises ``LeaseLost``.

        Only the recorded owner renews: a lease taken over (or released, or
        revoked by anti-entropy) in the meantime is refused. The check is on
        the owner id rather than the caller's revision, so a renewal whose
        commit outcome the caller never learnt (a timeout) does not cost the
        lease; owner ids must therefore be unique per keeper incarnation. A
        lease past its expiry that nobody took is still renewed.
        """
        now = self.now_ms()
        expires = now + _ttl_ms(ttl_s)
        current = await self.get(lease.resource)
        if current is None or current.owner != lease.owner or current.revoked:
            raise LeaseLost(lease.resource, None if current is None else current.owner)
        renewed = replace(
            current,
            expires_at_ms=expires,
            renew_count=current.renew_count + 1,
            progress_at_ms=current.progress_at_ms if progress_at_ms is None else progress_at_ms,
        )
        key = self.key(lease.resource)
        try:
            result = await self._store.commit(
                [Put(key, renewed.to_document(), if_revision=current.revision)]
            )
        except ConditionFailed:
            raise LeaseLost(lease.resource, None) from None
        return replace(renewed, revision=result.revisions[key])

    async def release(self, lease: Lease) -> bool:
        """Free the lease if its owner still holds it; whether it was released.

        Releasing a lease already lost (or released) is not an error: False.
        """
        current = await self.get(lease.resource)
        if current is None or current.owner != lease.owner:
            return False
        try:
            await self._store.commit(
                [Delete(self.key(lease.resource), if_revision=current.revision)]
            )
        except ConditionFailed:
            return False
        return True

    async def revoke(self, lease: Lease, grace_s: float) -> bool:
        """Take the lease from its holder if it is still exactly ``lease`` (same revision).

        For the anti-entropy sweep, which frees a stalled holder's work: the
        lease is marked revoked and left to expire in ``grace_s``. Its holder's
        next heartbeat is refused, so it learns to stop within that grace,
        before anyone else can take the resource. A heartbeat that lands first
        changes the revision, and the revoke fails (False).
        """
        # A grace of 0 frees it now (its holder is known to be dead).
        grace_ms = 0 if grace_s == 0 else _ttl_ms(grace_s)
        expires = min(lease.expires_at_ms, self.now_ms() + grace_ms)
        revoked = replace(lease, revoked=True, expires_at_ms=expires)
        key = self.key(lease.resource)
        try:
            await self._store.commit([Put(key, revoked.to_document(), if_revision=lease.revision)])
        except ConditionFailed:
            return False
        return True
