"""``MemoryConcurrencyCounters``: the counting service's counters in one process.

The embedded node's counters: plain dicts, O(1) per check, gone with the
process (and so are the invokes they counted), which is why ``hold_s`` is
ignored here.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from roost.store.errors import StoreUnavailable
from roost.store.ports import CounterLease


class MemoryConcurrencyCounters:
    """In-process ``ConcurrencyCounters``."""

    def __init__(self) -> None:
        self._unreserved: dict[str, int] = defaultdict(int)
        self._function: dict[tuple[str, str], int] = defaultdict(int)
        self._held: set[str] = set()
        self._ids = itertools.count()
        self._closed = False

    async def take(
        self,
        account_id: str,
        function_name: str,
        *,
        reserved: int | None,
        unreserved_cap: int,
        hold_s: float,
    ) -> CounterLease | None:
        """Count one invoke in, or None at the limit (see ``ConcurrencyCounters``)."""
        self._check_open()
        key = (account_id, function_name)
        if reserved is not None:
            if self._function[key] >= reserved:
                return None
        elif self._unreserved[account_id] >= unreserved_cap:
            return None
        else:
            self._unreserved[account_id] += 1
        self._function[key] += 1
        lease_id = str(next(self._ids))
        self._held.add(lease_id)
        return CounterLease(lease_id, account_id, function_name, reserved is not None)

    async def give_back(self, lease: CounterLease) -> None:
        """Count the invoke out, once."""
        self._check_open()
        if lease.lease_id not in self._held:
            return
        self._held.discard(lease.lease_id)
        self._function[(lease.account_id, lease.function_name)] -= 1
        if not lease.reserved:
            self._unreserved[lease.account_id] -= 1

    async def in_use(self, account_id: str, function_name: str) -> int:
        """The function's invokes counted right now."""
        self._check_open()
        return self._function[(account_id, function_name)]

    async def close(self) -> None:
        """Later calls raise ``StoreUnavailable``."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the counters are closed")
