"""``ConfigStore`` on Redis: the function-versions table shared by a cluster.

Three keys per namespace hold every document:

- ``{ns}:config:value``, a hash from document key to its JSON text;
- ``{ns}:config:revision``, a hash from document key to its revision;
- ``{ns}:config:keys``, a sorted set of every document key, all with score 0,
  so that ``ZRANGEBYLEX`` walks them in byte order (UTF-8 byte order is code
  point order, the order the other adapters list in).

A batch is one Lua script: Redis runs a script alone, so the conditions it
checks cannot change before its writes land, and another node's batch runs
wholly before or after it. Because Redis does not roll a script back, the
script checks every condition before its first write. Only declared keys are
touched, so the script is also valid on Redis Cluster (with a namespace that is
a hash tag, ``docs/cluster.md``).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from typing import Any, assert_never

from roost.store.errors import ConditionFailed
from roost.store.ports import CommitResult, Delete, DeletePrefix, Item, Put, Write
from roost.store.redis.connection import DEFAULT_NAMESPACE, RedisConnection
from roost.store.redis.support import new_revision, shielded, text

# Six arguments per write: operation, key, conditions, expected revision,
# value, new revision. Conditions are letters: "a" the key must be absent, "e"
# it must exist, "r" its revision must be the expected one. A prefix delete
# carries its ZRANGEBYLEX bounds in the key and value slots.
_COMMIT = """
local values, revisions, keys = KEYS[1], KEYS[2], KEYS[3]
local count = #ARGV / 6
for i = 0, count - 1 do
  local key, conditions = ARGV[i * 6 + 2], ARGV[i * 6 + 3]
  if conditions ~= '' then
    local current = redis.call('HGET', revisions, key)
    if (string.find(conditions, 'a', 1, true) and current)
      or (string.find(conditions, 'e', 1, true) and not current)
      or (string.find(conditions, 'r', 1, true) and current ~= ARGV[i * 6 + 4]) then
      return {'condition-failed', key}
    end
  end
end
for i = 0, count - 1 do
  local operation, key = ARGV[i * 6 + 1], ARGV[i * 6 + 2]
  if operation == 'put' then
    redis.call('HSET', values, key, ARGV[i * 6 + 5])
    redis.call('HSET', revisions, key, ARGV[i * 6 + 6])
    redis.call('ZADD', keys, 0, key)
  elseif operation == 'delete' then
    redis.call('HDEL', values, key)
    redis.call('HDEL', revisions, key)
    redis.call('ZREM', keys, key)
  else
    local lower, upper = key, ARGV[i * 6 + 5]
    for _, doomed in ipairs(redis.call('ZRANGEBYLEX', keys, lower, upper)) do
      redis.call('HDEL', values, doomed)
      redis.call('HDEL', revisions, doomed)
    end
    redis.call('ZREMRANGEBYLEX', keys, lower, upper)
  end
end
return {'ok'}
"""

# Keys in [ARGV[1], ARGV[2]] (ZRANGEBYLEX bounds), at most ARGV[3] of them
# (negative: all), each followed by its value and revision; one script so the
# page is a snapshot.
_LIST = """
local reply = {}
local found = redis.call('ZRANGEBYLEX', KEYS[3], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
for _, key in ipairs(found) do
  reply[#reply + 1] = key
  reply[#reply + 1] = redis.call('HGET', KEYS[1], key)
  reply[#reply + 1] = redis.call('HGET', KEYS[2], key)
end
return reply
"""

_GET = """
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('HGET', KEYS[2], ARGV[1])}
"""


class RedisConfigStore:
    """Documents in two Redis hashes with a sorted set of their keys.

    Open with ``await RedisConfigStore.open(url, namespace=...)``, which checks
    that the server answers; ``close()`` releases the client and later calls
    raise ``StoreUnavailable``, as does a server that cannot be reached.
    Conditions in a batch are evaluated against the state before the batch,
    then the writes are applied in order (the same semantics as every adapter).
    """

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._keys = [
            connection.key("config", "value"),
            connection.key("config", "revision"),
            connection.key("config", "keys"),
        ]
        self._commit = connection.script(_COMMIT)
        self._list = connection.script(_LIST, read_only=True)
        self._get = connection.script(_GET, read_only=True)

    @classmethod
    async def open(cls, url: str, *, namespace: str = DEFAULT_NAMESPACE) -> RedisConfigStore:
        """A store on the Redis server at ``url``; ``StoreUnavailable`` if it does not answer."""
        return cls(await RedisConnection.open(url, namespace=namespace))

    async def get(self, key: str) -> Item | None:
        value, revision = await self._get(self._keys, [key])
        if value is None:
            return None
        return Item(key, json.loads(value), text(revision))

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> builtins.list[Item]:
        lower, upper = lex_range(prefix, start_after)
        count = -1 if limit is None else max(limit, 0)
        reply = await self._list(self._keys, [lower, upper, count])
        return [
            Item(text(reply[i]), json.loads(reply[i + 1]), text(reply[i + 2]))
            for i in range(0, len(reply), 3)
        ]

    async def commit(self, writes: Sequence[Write]) -> CommitResult:
        # Encode before sending: a document that is not JSON fails here, before
        # anything reaches the server.
        revisions: dict[str, str] = {}
        args: builtins.list[Any] = []
        for write in writes:
            args.extend(_encode(write, revisions))
        reply = await shielded(lambda: self._commit(self._keys, args))
        if text(reply[0]) == "condition-failed":
            raise ConditionFailed(text(reply[1]))
        return CommitResult(revisions)

    async def close(self) -> None:
        await self._connection.close()


def lex_range(prefix: str, start_after: str | None = None) -> tuple[bytes, bytes]:
    """``ZRANGEBYLEX`` bounds of the keys starting with ``prefix``, after ``start_after``.

    Byte 0xFF never occurs in UTF-8, so every key starting with ``prefix`` sorts
    below ``prefix + 0xFF`` and every other key above ``prefix`` sorts above it.
    """
    encoded = prefix.encode()
    lower = b"[" + encoded if encoded else b"-"
    if start_after is not None and start_after.encode() >= encoded:
        lower = b"(" + start_after.encode()
    upper = b"(" + encoded + b"\xff" if encoded else b"+"
    return lower, upper


def _encode(write: Write, revisions: dict[str, str]) -> builtins.list[str | bytes]:
    """The script's six arguments for ``write``; records the revision a put will get."""
    if isinstance(write, Put):
        conditions = ("a" if write.if_absent else "") + (
            "r" if write.if_revision is not None else ""
        )
        revision = new_revision()
        revisions[write.key] = revision
        value = json.dumps(dict(write.value))
        return ["put", write.key, conditions, write.if_revision or "", value, revision]
    if isinstance(write, Delete):
        conditions = "e" if write.must_exist or write.if_revision is not None else ""
        if write.if_revision is not None:
            conditions += "r"
        return ["delete", write.key, conditions, write.if_revision or "", "", ""]
    if isinstance(write, DeletePrefix):
        lower, upper = lex_range(write.prefix)
        return ["prefix", lower, "", "", upper, ""]
    assert_never(write)
