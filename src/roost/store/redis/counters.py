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

import asyncio
import itertools
import secrets
from dataclasses import dataclass

from roost.store.ports import CounterLease
from roost.store.redis.connection import RedisConnection

# One script runs every take and give-back of one account that arrived in
# the same event-loop turn (the talk's batching for variance reduction: one
# round trip and one fsync for many checks). KEYS, in pairs per operation: the
# function's set, the account's unreserved set. ARGV, five per operation: "t"
# (take) or "g" (give back), lease id, hold ms, reserved (-1: none),
# unreserved cap. Returns 1 or 0 per operation (granted or not; 1 for a give-back).
_BATCH = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
-- A set lives as long as its longest lease, no longer: idle functions leave no keys.
local function outlive(key, hold)
  if redis.call('PTTL', key) < hold then redis.call('PEXPIRE', key, hold) end
end
local function take(fn, pool, lease, hold, reserved, cap)
  redis.call('ZREMRANGEBYSCORE', fn, '-inf', now_ms)
  if reserved >= 0 then
    if redis.call('ZCARD', fn) >= reserved then return 0 end
  else
    redis.call('ZREMRANGEBYSCORE', pool, '-inf', now_ms)
    if redis.call('ZCARD', pool) >= cap then return 0 end
    redis.call('ZADD', pool, now_ms + hold, lease)
    outlive(pool, hold)
  end
  redis.call('ZADD', fn, now_ms + hold, lease)
  outlive(fn, hold)
  return 1
end
local results = {}
for i = 0, #KEYS / 2 - 1 do
  local fn, pool = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local a = 5 * i
  if ARGV[a + 1] == 't' then
    results[i + 1] = take(fn, pool, ARGV[a + 2], tonumber(ARGV[a + 3]),
      tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]))
  else
    redis.call('ZREM', fn, ARGV[a + 2])
    redis.call('ZREM', pool, ARGV[a + 2])
    results[i + 1] = 1
  end
end
return results
"""

# KEYS: the function's set.
_IN_USE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now_ms, '+inf')
"""


@dataclass
class _Operation:
    keys: list[str]
    args: list[str | int]
    done: asyncio.Future[bool]


class RedisConcurrencyCounters:
    """``ConcurrencyCounters`` shared by every node on one Redis."""

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._batch = connection.script(_BATCH)
        self._in_use = connection.script(_IN_USE, read_only=True)
        # Lease ids unique across nodes without asking the server for one.
        self._prefix = secrets.token_hex(6)
        self._ids = itertools.count()
        # Operations waiting for the end of this loop turn, by account.
        self._pending: dict[str, list[_Operation]] = {}
        self._flushes: set[asyncio.Task[None]] = set()

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
        lease = CounterLease(
            f"{self._prefix}.{next(self._ids)}", account_id, function_name, reserved is not None
        )
        hold_ms = max(1, round(hold_s * 1000))
        limit = -1 if reserved is None else reserved
        args: list[str | int] = ["t", lease.lease_id, hold_ms, limit, unreserved_cap]
        done = self._submit(account_id, self._keys(account_id, function_name), args)
        try:
            granted = await asyncio.shield(done)
        except asyncio.CancelledError:
            # The take may still land: count it back out rather than leak the slot.
            done.add_done_callback(lambda _: self._give_back_if_granted(done, lease))
            raise
        return lease if granted else None

    def _give_back_if_granted(self, done: asyncio.Future[bool], lease: CounterLease) -> None:
        if not done.cancelled() and done.exception() is None and done.result():
            args: list[str | int] = ["g", lease.lease_id, 0, 0, 0]
            self._submit(lease.account_id, self._keys(lease.account_id, lease.function_name), args)

    async def give_back(self, lease: CounterLease) -> None:
        """Count the invoke out (removing a lease twice removes it once)."""
        keys = self._keys(lease.account_id, lease.function_name)
        await asyncio.shield(self._submit(lease.account_id, keys, ["g", lease.lease_id, 0, 0, 0]))

    def _submit(
        self, account_id: str, keys: list[str], args: list[str | int]
    ) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        operation = _Operation(keys, args, loop.create_future())
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.setdefault(account_id, []).append(operation)
        return operation.done

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for operations in pending.values():
            task = asyncio.get_running_loop().create_task(self._run(operations))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _run(self, operations: list[_Operation]) -> None:
        keys = [key for operation in operations for key in operation.keys]
        args = [arg for operation in operations for arg in operation.args]
        try:
            results = await self._batch(keys, args)
        except Exception as error:
            for operation in operations:
                if not operation.done.done():
                    operation.done.set_exception(error)
            return
        for operation, result in zip(operations, results, strict=True):
            if not operation.done.done():
                operation.done.set_result(bool(result))

    async def in_use(self, account_id: str, function_name: str) -> int:
        """Unexpired leases of the function, on every node."""
        return int(await self._in_use(self._keys(account_id, function_name)[:1], []))

    async def close(self) -> None:
        """Close the connection; later calls raise ``StoreUnavailable``."""
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        await self._connection.close()
