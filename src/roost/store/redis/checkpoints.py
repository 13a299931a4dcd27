"""``CheckpointStore`` on Redis: stream shard checkpoints shared by a cluster.

One hash per mapping, ``{ns}:checkpoint:<mapping uuid>``, from shard id to the
checkpoint as a JSON object (``position``, ``closed``, ``owner``,
``revision``). Positions are JSON strings, never numbers, so a 56-digit
Kinesis sequence number or a Kafka offset with leading zeros comes back exactly
as written; nothing compares them.

Every write is a Lua script that reads the checkpoint, checks the revision
(the fence a claim puts up against the shard's previous owner) and writes, so a
stale owner on another node cannot slip an ``advance`` in between. Scripts
edit the JSON with Redis's built-in ``cjson``. With ``appendfsync always`` a
checkpoint is on disk before it is acknowledged (``docs/cluster.md``).
"""

from __future__ import annotations

import builtins
import json

from roost.store.errors import ConditionFailed
from roost.store.ports import ShardCheckpoint, checkpoint_key
from roost.store.redis.connection import DEFAULT_NAMESPACE, RedisConnection
from roost.store.redis.support import new_revision, shielded, text

# ARGV: shard, owner, new revision. Returns the checkpoint as written.
_CLAIM = """
local stored = redis.call('HGET', KEYS[1], ARGV[1])
local checkpoint
if stored then
  checkpoint = cjson.decode(stored)
else
  checkpoint = {position = cjson.null, closed = false}
end
checkpoint.owner = ARGV[2]
checkpoint.revision = ARGV[3]
local encoded = cjson.encode(checkpoint)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
"""

# ARGV: shard, expected revision, new revision, 'advance' or 'close', position.
# Returns 1, or 0 (nothing written) when the fence or a closed shard says no.
# A closed shard's position never moves; closing it again is harmless.
_UPDATE = """
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then return 0 end
local checkpoint = cjson.decode(stored)
if checkpoint.revision ~= ARGV[2] then return 0 end
if ARGV[4] == 'advance' then
  if checkpoint.closed then return 0 end
  checkpoint.position = ARGV[5]
else
  checkpoint.closed = true
end
checkpoint.revision = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(checkpoint))
return 1
"""

_DELETE_MAPPING = """
local count = redis.call('HLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return count
"""


class RedisCheckpointStore:
    """Checkpoints in one Redis hash per mapping, every write one Lua script.

    Open with ``await RedisCheckpointStore.open(url, namespace=...)``;
    ``close()`` releases the client and later calls raise ``StoreUnavailable``.
    """

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._claim = connection.script(_CLAIM)
        self._update = connection.script(_UPDATE)
        self._delete_mapping = connection.script(_DELETE_MAPPING)

    @classmethod
    async def open(cls, url: str, *, namespace: str = DEFAULT_NAMESPACE) -> RedisCheckpointStore:
        """A store on the Redis server at ``url``; ``StoreUnavailable`` if it does not answer."""
        return cls(await RedisConnection.open(url, namespace=namespace))

    def _key(self, mapping_uuid: str) -> str:
        return self._connection.key("checkpoint", mapping_uuid)

    async def get(self, mapping_uuid: str, shard_id: str) -> ShardCheckpoint | None:
        key = self._key(mapping_uuid)
        client = self._connection.client
        stored = await self._connection.call(lambda: client.hget(key, shard_id))
        return None if stored is None else _checkpoint(mapping_uuid, shard_id, stored)

    async def list(self, mapping_uuid: str) -> builtins.list[ShardCheckpoint]:
        key = self._key(mapping_uuid)
        client = self._connection.client
        stored = await self._connection.call(lambda: client.hgetall(key))
        # Shard ids sort by code point, as SQLite's BINARY collation sorts UTF-8.
        shards = sorted((text(shard), value) for shard, value in stored.items())
        return [_checkpoint(mapping_uuid, shard, value) for shard, value in shards]

    async def claim(self, mapping_uuid: str, shard_id: str, owner: str) -> ShardCheckpoint:
        args = [shard_id, owner, new_revision()]
        stored = await shielded(lambda: self._claim([self._key(mapping_uuid)], args))
        return _checkpoint(mapping_uuid, shard_id, stored)

    async def advance(
        self, mapping_uuid: str, shard_id: str, position: str, *, expected_revision: str
    ) -> str:
        return await self._write(mapping_uuid, shard_id, expected_revision, "advance", position)

    async def mark_closed(self, mapping_uuid: str, shard_id: str, *, expected_revision: str) -> str:
        return await self._write(mapping_uuid, shard_id, expected_revision, "close", "")

    async def _write(
        self, mapping_uuid: str, shard_id: str, expected_revision: str, action: str, position: str
    ) -> str:
        revision = new_revision()
        args = [shard_id, expected_revision, revision, action, str(position)]
        written = await shielded(lambda: self._update([self._key(mapping_uuid)], args))
        if not written:
            raise ConditionFailed(checkpoint_key(mapping_uuid, shard_id))
        return revision

    async def delete_mapping(self, mapping_uuid: str) -> int:
        removed = await shielded(lambda: self._delete_mapping([self._key(mapping_uuid)], []))
        return int(removed)

    async def close(self) -> None:
        await self._connection.close()


def _checkpoint(mapping_uuid: str, shard_id: str, stored: bytes | str) -> ShardCheckpoint:
    fields = json.loads(stored)
    return ShardCheckpoint(
        mapping_uuid,
        shard_id,
        fields["position"],
        bool(fields["closed"]),
        fields["owner"],
        fields["revision"],
    )
