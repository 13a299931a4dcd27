"""The counting service: concurrency leases checked on every invoke.

An account has a concurrency limit; functions with reserved concurrency draw only
from their reservation, every other function shares what is left (the
unreserved pool). Acquiring a lease either counts the invoke in or throttles it
with AWS's ``TooManyRequestsException`` and ``Reason``.

The counters themselves are a store port (``ConcurrencyCounters``): in memory
on an embedded node (O(1), the talk asks for well under 1.5 ms per check), on
Redis in a cluster so that one account limit holds across every node. What
``/metrics`` shows (grants, throttles, caps, this node's invokes in flight) is
kept here, per node.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from roost.api.errors import TooManyRequestsException
from roost.store.memory.counters import MemoryConcurrencyCounters
from roost.store.ports import ConcurrencyCounters, CounterLease

RATE_EXCEEDED = "Rate Exceeded."
# What a throttled caller is told to wait (``Retry-After``): invokes last about
# this long, so a slot is likely free again by then.
RETRY_AFTER_S = 1
# How long a counted invoke may run before its lease lapses on a shared store
# when its node died holding it: the longest Lambda timeout, plus init time
# (callers that know the function's timeout pass a tighter figure).
DEFAULT_HOLD_S = 900.0 + 10.0


@dataclass(frozen=True)
class ConcurrencyLease:
    """One counted invoke; release it exactly once when the invoke ends."""

    account_id: str
    function_name: str
    reserved: bool
    counter: CounterLease


class CountingService:
    """Concurrency limits per account and per function, over ``ConcurrencyCounters``."""

    def __init__(self, account_limit: int, counters: ConcurrencyCounters | None = None) -> None:
        self.account_limit = account_limit
        self.counters: ConcurrencyCounters = counters or MemoryConcurrencyCounters()
        # This node's invokes in flight (the counters may be shared by many nodes).
        self._unreserved_in_use: dict[str, int] = defaultdict(int)
        self._function_in_use: dict[tuple[str, str], int] = defaultdict(int)
        # Totals since start for /metrics: leases granted, and throttles by reason.
        self._granted: dict[tuple[str, str], int] = defaultdict(int)
        self._throttled: dict[tuple[str, str, str], int] = defaultdict(int)
        # Reserved concurrency of each function as last seen by an acquire: the
        # per-function caps /metrics shows (counting is told them per invoke).
        self._reserved: dict[tuple[str, str], int] = {}
        self._reserved_in_account: dict[str, int] = {}

    def in_use(self, account_id: str, function_name: str) -> int:
        """Invokes of a function counted right now by this node."""
        return self._function_in_use[(account_id, function_name)]

    async def acquire(
        self,
        account_id: str,
        function_name: str,
        reserved: int | None,
        reserved_in_account: int,
        *,
        hold_s: float = DEFAULT_HOLD_S,
    ) -> ConcurrencyLease:
        """Count an invoke in, or raise ``TooManyRequestsException``.

        ``reserved`` is the function's reserved concurrency (None: it draws from
        the unreserved pool); ``reserved_in_account`` is the account's total.
        ``hold_s`` bounds how long a shared store counts the invoke if this node
        dies before releasing it (the function's timeout plus init).
        """
        key = (account_id, function_name)
        self._note_caps(key, reserved, reserved_in_account)
        counter = await self.counters.take(
            account_id,
            function_name,
            reserved=reserved,
            unreserved_cap=self.account_limit - reserved_in_account,
            hold_s=hold_s,
        )
        if counter is None:
            reason = (
                "ReservedFunctionConcurrentInvocationLimitExceeded"
                if reserved is not None
                else "ConcurrentInvocationLimitExceeded"
            )
            raise self._throttle(key, reason)
        self._function_in_use[key] += 1
        if reserved is None:
            self._unreserved_in_use[account_id] += 1
        self._granted[key] += 1
        return ConcurrencyLease(account_id, function_name, reserved is not None, counter)

    def _note_caps(self, key: tuple[str, str], reserved: int | None, in_account: int) -> None:
        if reserved is None:
            self._reserved.pop(key, None)
        else:
            self._reserved[key] = reserved
        self._reserved_in_account[key[0]] = in_account

    async def release(self, lease: ConcurrencyLease) -> None:
        """Count an invoke out (locally at once, then in the counters)."""
        key = (lease.account_id, lease.function_name)
        self._function_in_use[key] -= 1
        if not lease.reserved:
            self._unreserved_in_use[lease.account_id] -= 1
        await self.counters.give_back(lease.counter)

    def _throttle(self, key: tuple[str, str], reason: str) -> TooManyRequestsException:
        self._throttled[(*key, reason)] += 1
        return throttled(reason)

    def in_use_by_function(self) -> dict[tuple[str, str], int]:
        """This node's invokes counted right now, by (account, function), for ``/metrics``."""
        return {key: count for key, count in self._function_in_use.items() if count}

    def granted_by_function(self) -> dict[tuple[str, str], int]:
        """Invokes counted in since start (sync and async attempts), by (account, function)."""
        return dict(self._granted)

    def throttled_by_function(self) -> dict[tuple[str, str, str], int]:
        """Throttles since start, by (account, function, reason)."""
        return dict(self._throttled)

    def reserved_by_function(self) -> dict[tuple[str, str], int]:
        """Reserved concurrency (the function's hard cap), by (account, function)."""
        return dict(self._reserved)

    def unreserved_by_account(self) -> dict[str, tuple[int, int]]:
        """The unreserved pool of each account seen: (cap, this node's use now)."""
        return {
            account: (self.account_limit - reserved, self._unreserved_in_use[account])
            for account, reserved in self._reserved_in_account.items()
        }


def throttled(reason: str, retry_after_s: int = RETRY_AFTER_S) -> TooManyRequestsException:
    """AWS's throttle: 429 ``TooManyRequestsException`` with ``Reason`` and ``Retry-After``."""
    return TooManyRequestsException(
        RATE_EXCEEDED, fields={"Reason": reason, "retryAfterSeconds": str(retry_after_s)}
    )
