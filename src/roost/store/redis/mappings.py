"""``EventSourceMappingStore`` on Redis, shared by every node of a cluster.

Five keys per namespace:

- ``{ns}:mapping:record``, a hash from UUID to the record as JSON (account,
  function, source and document);
- ``{ns}:mapping:revision``, a hash from UUID to its revision;
- ``{ns}:mapping:source``, the uniqueness index: a hash from the JSON triple
  ``[account_id, function_arn, source_key]`` to the UUID that holds it;
- ``{ns}:mapping:source-of``, the reverse, so an update or delete frees the
  triple the record held;
- ``{ns}:mapping:uuids``, a sorted set of UUIDs (score 0) for listing in UUID
  order.

A put or delete is one Lua script that checks the revision and the uniqueness
rule and then writes, so two nodes creating a mapping of one source and
function at once cannot both succeed.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

from roost.store.errors import ConditionFailed, DuplicateMapping
from roost.store.ports import MappingRecord
from roost.store.redis.connection import DEFAULT_NAMESPACE, RedisConnection
from roost.store.redis.support import new_revision, shielded, text

# KEYS: record, revision, source, source-of, uuids.
# ARGV: uuid, expected revision ('' creates), source triple, record JSON, new revision.
_PUT = """
local uuid, expected, triple = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('HGET', KEYS[2], uuid)
if (expected == '' and current) or (expected ~= '' and current ~= expected) then
  return {'condition-failed'}
end
local holder = redis.call('HGET', KEYS[3], triple)
if holder and holder ~= uuid then
  return {'duplicate', holder}
end
local previous = redis.call('HGET', KEYS[4], uuid)
if previous and previous ~= triple then
  redis.call('HDEL', KEYS[3], previous)
end
redis.call('HSET', KEYS[3], triple, uuid)
redis.call('HSET', KEYS[4], uuid, triple)
redis.call('HSET', KEYS[1], uuid, ARGV[4])
redis.call('HSET', KEYS[2], uuid, ARGV[5])
redis.call('ZADD', KEYS[5], 0, uuid)
return {'ok'}
"""

# KEYS as for a put. ARGV: uuid, '1' if a revision is expected, the revision.
_DELETE = """
local uuid = ARGV[1]
local current = redis.call('HGET', KEYS[2], uuid)
if ARGV[2] == '1' and current ~= ARGV[3] then
  return {'condition-failed'}
end
if not current then
  return {'ok', 0}
end
local triple = redis.call('HGET', KEYS[4], uuid)
if triple and redis.call('HGET', KEYS[3], triple) == uuid then
  redis.call('HDEL', KEYS[3], triple)
end
redis.call('HDEL', KEYS[1], uuid)
redis.call('HDEL', KEYS[2], uuid)
redis.call('HDEL', KEYS[4], uuid)
redis.call('ZREM', KEYS[5], uuid)
return {'ok', 1}
"""

# KEYS as for a put. ARGV: lower ZRANGEBYLEX bound, how many (negative: all).
# Each UUID is followed by its record and revision; one page is one snapshot.
_PAGE = """
local reply = {}
for _, uuid in ipairs(redis.call('ZRANGEBYLEX', KEYS[5], ARGV[1], '+', 'LIMIT', 0, ARGV[2])) do
  reply[#reply + 1] = uuid
  reply[#reply + 1] = redis.call('HGET', KEYS[1], uuid)
  reply[#reply + 1] = redis.call('HGET', KEYS[2], uuid)
end
return reply
"""

_GET = """
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('HGET', KEYS[2], ARGV[1])}
"""

# With filters, how many records one round trip reads.
_PAGE_SIZE = 256


class RedisMappingStore:
    """Mappings in Redis hashes with a uniqueness index, every write one Lua script.

    Open with ``await RedisMappingStore.open(url, namespace=...)``; ``close()``
    releases the client and later calls raise ``StoreUnavailable``.
    """

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._keys = [
            connection.key("mapping", name)
            for name in ("record", "revision", "source", "source-of", "uuids")
        ]
        self._put = connection.script(_PUT)
        self._delete = connection.script(_DELETE)
        self._page = connection.script(_PAGE, read_only=True)
        self._get = connection.script(_GET, read_only=True)

    @classmethod
    async def open(cls, url: str, *, namespace: str = DEFAULT_NAMESPACE) -> RedisMappingStore:
        """A store on the Redis server at ``url``; ``StoreUnavailable`` if it does not answer."""
        return cls(await RedisConnection.open(url, namespace=namespace))

    async def put(self, record: MappingRecord, *, expected_revision: str | None = None) -> str:
        # Encode before sending: a document that is not JSON fails here.
        encoded = json.dumps(
            {
                "account_id": record.account_id,
                "function_arn": record.function_arn,
                "source_key": record.source_key,
                "document": dict(record.document),
            }
        )
        triple = json.dumps([record.account_id, record.function_arn, record.source_key])
        revision = new_revision()
        # An expected revision of '' can match no stored one: send one that cannot either.
        expected = "-" if expected_revision == "" else (expected_revision or "")
        args = [record.uuid, expected, triple, encoded, revision]
        reply = await shielded(lambda: self._put(self._keys, args))
        outcome = text(reply[0])
        if outcome == "condition-failed":
            raise ConditionFailed(record.uuid)
        if outcome == "duplicate":
            raise DuplicateMapping(record.uuid, text(reply[1]))
        return revision

    async def get(self, uuid: str) -> MappingRecord | None:
        encoded, revision = await self._get(self._keys, [uuid])
        return None if encoded is None else _record(uuid, encoded, revision)

    async def list(
        self,
        *,
        account_id: str | None = None,
        function_arn: str | None = None,
        source_key: str | None = None,
        start_after: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[MappingRecord]:
        wanted = {"account_id": account_id, "function_arn": function_arn, "source_key": source_key}
        wanted = {name: value for name, value in wanted.items() if value is not None}
        found: builtins.list[MappingRecord] = []
        lower = b"-" if start_after is None else b"(" + start_after.encode()
        while limit is None or len(found) < limit:
            # Without filters every record read is kept: read just what is asked.
            size = _PAGE_SIZE if wanted or limit is None else limit - len(found)
            page = await self._page(self._keys, [lower, size])
            for i in range(0, len(page), 3):
                record = _record(page[i], page[i + 1], page[i + 2])
                if all(getattr(record, name) == value for name, value in wanted.items()):
                    found.append(record)
            if len(page) < 3 * size:
                break
            lower = b"(" + page[-3]
        return found if limit is None else found[: max(limit, 0)]

    async def delete(self, uuid: str, *, expected_revision: str | None = None) -> bool:
        args = [uuid, "0" if expected_revision is None else "1", expected_revision or ""]
        reply = await shielded(lambda: self._delete(self._keys, args))
        if text(reply[0]) == "condition-failed":
            raise ConditionFailed(uuid)
        return bool(reply[1])

    async def close(self) -> None:
        await self._connection.close()


def _record(uuid: Any, encoded: Any, revision: Any) -> MappingRecord:
    fields = json.loads(encoded)
    return MappingRecord(
        text(uuid),
        fields["account_id"],
        fields["function_arn"],
        fields["source_key"],
        fields["document"],
        text(revision),
    )
