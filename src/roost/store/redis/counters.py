"""``RedisConcurrencyCounters``: one account limit for every node of a cluster.

Each counted invoke is a member of a sorted set scored by when it expires: one
set per function and one per account's unreserved pool. ``take`` is a Lua
script that drops expired members, compares the set's size with the limit and
adds the lease, so the check and the count are one atomic step on the server,
whichever node asks. Expiry is what makes a SIGKILLed node's invokes stop
counting: their leases lapse ``hold_s`` after they were taken (the function's
timeout plus its init, so never while the invoke can still be running).
Times come from the Redis server's clock, so nodes' clocks need not agree.

Both keys of an account share the hash tag ``{account}``: a script touching
them stays on one slot of a Redis Cluster.
"""

from __future__ import annotations

import itertools
import secrets

from roost.store.ports import CounterLease
from roost.store.redis.connection import RedisConnection

# KEYS: the function's set, the account's unreserved set.
# ARGV: lease id, hold ms, reserved (-1: none), unreserved cap.
_TAKE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local expires = now_ms + tonumber(ARGV[2])
-- A set lives as long as its longest lease, no longer: idle functions leave no keys.
local function outlive(key)
  if redis.call('PTTL', key) < tonumber(ARGV[2]) then redis.call('PEXPIRE', key, ARGV[2]) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
local reserved = tonumber(ARGV[3])
if reserved >= 0 then
  if redis.call('ZCARD', KEYS[1]) >= reserved then return 0 end
else
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
  redis.call('ZADD', KEYS[2], expires, ARGV[1])
  outlive(KEYS[2])
end
redis.call('ZADD', KEYS[1], expires, ARGV[1])
outlive(KEYS[1])
return 1
"""

# KEYS: the function's set, the account's unreserved set. ARGV: lease id.
_GIVE_BACK = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

# KEYS: the function's set.
_IN_USE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now_ms, '+inf')
"""


class RedisConcurrencyCounters:
    """``ConcurrencyCounters`` shared by every node on one Redis."""

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._take = connection.script(_TAKE)
        self._give_back = connection.script(_GIVE_BACK)
        self._in_use = connection.script(_IN_USE)
        # Lease ids unique across nodes without asking the server for one.
        self._prefix = secrets.token_hex(6)
        self._ids = itertools.count()

    def _keys(self, account_id: str, function_name: str) -> list[str]:
        tag = "{" + account_id + "}"
        return [
            self._connection.key("count", tag, "fn", function_name),
            self._connection.key("count", tag, "unreserved"),
        ]

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
        lease_id = f"{self._prefix}.{next(self._ids)}"
        hold_ms = max(1, round(hold_s * 1000))
        limit = -1 if reserved is None else reserved
        args = [lease_id, hold_ms, limit, unreserved_cap]
        if not await self._take(self._keys(account_id, function_name), args):
            return None
        return CounterLease(lease_id, account_id, function_name, reserved is not None)

    async def give_back(self, lease: CounterLease) -> None:
        """Count the invoke out (removing a lease twice removes it once)."""
        keys = self._keys(lease.account_id, lease.function_name)
        await self._give_back(keys, [lease.lease_id])

    async def in_use(self, account_id: str, function_name: str) -> int:
        """Unexpired leases of the function, on every node."""
        return int(await self._in_use(self._keys(account_id, function_name)[:1], []))

    async def close(self) -> None:
        """Close the connection; later calls raise ``StoreUnavailable``."""
        await self._connection.close()
