"""Per-tenant token buckets: a noisy tenant drains at its own rate in the shared queues.

After an outage every tenant has a backlog, and a tenant with 50,000 queued
events and a concurrency of 1 sits in the same shared queues as everyone else:
without a bound of its own, its events are received, tried and throttled over
and over ahead of other tenants' events. The talk's answer is a token bucket
per function, sized from its concurrency: the async pollers ask it before they
start an event, and an event whose tenant has no token is put back for a short
while (``defer_s``) while the events of other tenants go on.

A tenant is an (account, function). Its bucket:

- concurrency: the function's reserved concurrency if set, else ``share`` of
  the account's unreserved concurrency (at least 1);
- burst = concurrency, rate = concurrency / mean duration (Little's law: that
  many events can run at once, each for about that long). The mean duration is
  a moving average of the tenant's recent attempts, ``default_duration_s``
  until the first one ends;
- settings are looked up again every ``refresh_s`` (from the in-memory
  function cache: never per event, never from the control plane).

A function with reserved concurrency 0 gets no bucket: it cannot run at all,
and the counting service's throttles (with their backoff and the event-age
limit) decide its events' fate.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from roost.flow.token_bucket import TokenBucket

# Weight of the newest duration in the moving mean.
DURATION_SMOOTHING = 0.2
# Message ids whose deferrals are remembered (beyond it the oldest are forgotten,
# which only lengthens a later throttle backoff).
LEDGER_SIZE = 100_000


@dataclass(frozen=True)
class TenantConcurrency:
    """A function's concurrency settings, as the counting service applies them."""

    reserved: int | None
    account_limit: int
    reserved_in_account: int = 0


class ConcurrencySource(Protocol):
    """Where a tenant's concurrency settings come from (cached; cheap)."""

    async def concurrency(self, account_id: str, function_name: str) -> TenantConcurrency | None:
        """The function's settings now; None if the function does not exist."""


@dataclass(frozen=True)
class TenantSizing:
    """How tenant buckets are sized and how long an event is put back for."""

    share: float = 0.5
    default_duration_s: float = 0.1
    refresh_s: float = 5.0
    # An event without a token comes back when its tenant's bucket should have one
    # for it (events already put back go first), at least min and at most max.
    min_defer_s: float = 0.05
    max_defer_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError(f"share must be in (0, 1], not {self.share}")
        if self.default_duration_s <= 0 or self.min_defer_s <= 0:
            raise ValueError("default_duration_s and min_defer_s must be > 0")
        if self.max_defer_s < self.min_defer_s:
            raise ValueError("max_defer_s must be >= min_defer_s")

    def concurrency_of(self, settings: TenantConcurrency) -> int:
        """The tenant's concurrency: its reservation, else its share of the unreserved pool."""
        if settings.reserved is not None:
            return settings.reserved
        unreserved = max(0, settings.account_limit - settings.reserved_in_account)
        return max(1, math.floor(unreserved * self.share))

    def rate_and_burst(self, concurrency: int, mean_duration_s: float) -> tuple[float, float]:
        """Tokens per second and burst of a tenant running ``concurrency`` at once."""
        return concurrency / max(mean_duration_s, 1e-3), float(concurrency)


@dataclass
class _Tenant:
    bucket: TokenBucket | None
    concurrency: int
    mean_duration_s: float
    checked_at: float
    # When the last event put back is due: the next one goes after it.
    horizon: float = 0.0
    deferred: int = 0


@dataclass(frozen=True)
class TenantFigures:
    """A tenant's bucket for ``/metrics``."""

    concurrency: int
    rate_per_s: float
    tokens: float
    deferred: int


class TenantBuckets:
    """One token bucket per (account, function); asked before every async start."""

    def __init__(
        self,
        source: ConcurrencySource,
        sizing: TenantSizing,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self.sizing = sizing
        self._clock = clock
        self._tenants: dict[tuple[str, str], _Tenant] = {}
        self.ledger = DeferralLedger()

    async def admit(self, account_id: str, function_name: str) -> float:
        """0 if the tenant's event may start now (a token is taken), else the seconds
        to put it back for."""
        tenant = await self._tenant(account_id, function_name)
        if tenant is None or tenant.bucket is None or tenant.bucket.try_take():
            return 0.0
        now = self._clock()
        sizing = self.sizing
        # Events put back are spaced a token apart, so they do not all return at once.
        step = (
            1.0 / tenant.bucket.rate_per_s if tenant.bucket.rate_per_s > 0 else sizing.max_defer_s
        )
        due = max(now + tenant.bucket.time_until(), tenant.horizon + step)
        tenant.horizon = min(due, now + sizing.max_defer_s)
        tenant.deferred += 1
        return max(sizing.min_defer_s, tenant.horizon - now)

    def headroom(self, account_id: str, function_name: str) -> tuple[float, float]:
        """The tenant's tokens now and the seconds until its next one, taking none
        (``inf`` tokens for a tenant without a bucket, or not sized yet): how fast
        a queue holding only its events may be received from (a backlog shard's)."""
        tenant = self._tenants.get((account_id, function_name))
        if tenant is None or tenant.bucket is None:
            return math.inf, 0.0
        return tenant.bucket.available, tenant.bucket.time_until()

    def ran(self, account_id: str, function_name: str, duration_s: float) -> None:
        """An attempt of the tenant ran for ``duration_s``: its rate follows its duration."""
        tenant = self._tenants.get((account_id, function_name))
        if tenant is None:
            return
        tenant.mean_duration_s += DURATION_SMOOTHING * (duration_s - tenant.mean_duration_s)
        self._resize(tenant)

    async def _tenant(self, account_id: str, function_name: str) -> _Tenant | None:
        key = (account_id, function_name)
        tenant = self._tenants.get(key)
        now = self._clock()
        if tenant is not None and now - tenant.checked_at < self.sizing.refresh_s:
            return tenant
        settings = await self._source.concurrency(account_id, function_name)
        if settings is None:
            self._tenants.pop(key, None)
            return None  # Gone: the invoke path drops its events.
        concurrency = self.sizing.concurrency_of(settings)
        if tenant is None:
            tenant = _Tenant(None, concurrency, self.sizing.default_duration_s, now)
            self._tenants[key] = tenant
        tenant.concurrency, tenant.checked_at = concurrency, now
        self._resize(tenant)
        return tenant

    def _resize(self, tenant: _Tenant) -> None:
        if tenant.concurrency <= 0:
            tenant.bucket = None  # Reserved 0: left to the counting service's throttles.
            return
        rate, burst = self.sizing.rate_and_burst(tenant.concurrency, tenant.mean_duration_s)
        if tenant.bucket is None:
            tenant.bucket = TokenBucket(rate, burst, self._clock)
        else:
            tenant.bucket.set_rate(rate, burst)

    def figures(self) -> dict[tuple[str, str], TenantFigures]:
        """Every tenant's bucket now, by (account, function)."""
        result: dict[tuple[str, str], TenantFigures] = {}
        for key, tenant in sorted(self._tenants.items()):
            bucket = tenant.bucket
            result[key] = TenantFigures(
                tenant.concurrency,
                bucket.rate_per_s if bucket else 0.0,
                bucket.available if bucket else 0.0,
                tenant.deferred,
            )
        return result


class DeferralLedger:
    """How many times each message was put back by a tenant bucket.

    Putting a message back and receiving it again raises its receive count,
    which the retry policy reads as throttles in a row (for the backoff). The
    ledger lets the poller take deferrals out again, so being put back costs an
    event neither a retry nor a longer backoff. In memory and bounded: after a
    restart (or on another node) a deferred message only backs off longer.
    """

    def __init__(self, size: int = LEDGER_SIZE) -> None:
        self._size = size
        self._counts: OrderedDict[str, int] = OrderedDict()

    def deferred(self, message_id: str) -> None:
        """``message_id`` was put back once more."""
        self._counts[message_id] = self._counts.get(message_id, 0) + 1
        self._counts.move_to_end(message_id)
        while len(self._counts) > self._size:
            self._counts.popitem(last=False)

    def failures_in_row(self, message_id: str, receive_count: int) -> int:
        """The receives of a message that were real attempts (at least 1)."""
        return max(1, receive_count - self._counts.get(message_id, 0))

    def settled(self, message_id: str) -> None:
        """The message is deleted or handed on: forget it."""
        self._counts.pop(message_id, None)

    def __len__(self) -> int:
        return len(self._counts)
