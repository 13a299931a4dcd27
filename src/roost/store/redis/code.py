"""``CodeStore`` on Redis: deployment packages shared by every node of a cluster.

Each blob is a Redis string ``{ns}:code:blob:<sha256 hex>`` (Redis strings hold
up to 512 MB; Lambda's limits are 50 MB zipped, 250 MB unzipped, and a zip is
stored zipped). Beside them, ``{ns}:code:touched`` is a sorted set of digests
scored by when each was last put (Unix seconds of the Redis server's clock, so
every node measures ages on one clock) and ``{ns}:code:size`` a hash of their
sizes, so ``list`` needs no pass over the blobs themselves.

Putting bytes already stored only refreshes their touch time and does not send
them again. ``delete_stale`` checks the age and removes in one script, so a put
landing meanwhile either refreshes the blob first (it survives) or recreates
it after.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import re

from roost.store.errors import BlobNotFound
from roost.store.ports import BlobInfo, BlobRef
from roost.store.redis.connection import DEFAULT_NAMESPACE, RedisConnection
from roost.store.redis.support import shielded, text

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# Hashing a large package takes tens of milliseconds: off the event loop.
_HASH_IN_THREAD_BYTES = 1 << 20

# The server's clock with microseconds, formatted so no precision is lost on
# the way into a score.
_NOW = """
local now = redis.call('TIME')
local now_s = tonumber(now[1]) + tonumber(now[2]) / 1000000
"""

# KEYS: blob, touched, size. ARGV: digest.
_TOUCH = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], string.format('%.6f', now_s), ARGV[1])
return 1
"""
)

# KEYS: blob, touched, size. ARGV: digest, bytes.
_PUT = (
    _NOW
    + """
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], string.format('%.6f', now_s), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], string.len(ARGV[2]))
return 1
"""
)

# KEYS: blob, touched, size. ARGV: digest, minimum age in seconds.
_DELETE_STALE = (
    _NOW
    + """
local touched = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not touched or now_s - tonumber(touched) < tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""
)

_DELETE = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

# KEYS: touched, size. Every digest with its touch time and size, one snapshot.
_LIST = """
local reply = {}
local touched = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #touched, 2 do
  reply[#reply + 1] = touched[i]
  reply[#reply + 1] = touched[i + 1]
  reply[#reply + 1] = redis.call('HGET', KEYS[2], touched[i])
end
return reply
"""


class RedisCodeStore:
    """Content-addressed deployment packages as Redis strings.

    Digests are lowercase hex SHA-256; anything else names no blob. Open with
    ``await RedisCodeStore.open(url, namespace=...)``; ``close()`` releases the
    client and later calls raise ``StoreUnavailable``.
    """

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._touch = connection.script(_TOUCH)
        self._put = connection.script(_PUT)
        self._delete_stale = connection.script(_DELETE_STALE)
        self._delete = connection.script(_DELETE)
        self._list = connection.script(_LIST, read_only=True)
        self._index_keys = [connection.key("code", "touched"), connection.key("code", "size")]

    @classmethod
    async def open(cls, url: str, *, namespace: str = DEFAULT_NAMESPACE) -> RedisCodeStore:
        """A store on the Redis server at ``url``; ``StoreUnavailable`` if it does not answer."""
        return cls(await RedisConnection.open(url, namespace=namespace))

    def _keys(self, sha256_hex: str) -> list[str]:
        return [self._connection.key("code", "blob", sha256_hex), *self._index_keys]

    async def put(self, data: bytes) -> BlobRef:
        if len(data) >= _HASH_IN_THREAD_BYTES:
            digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        else:
            digest = hashlib.sha256(data).hexdigest()
        keys = self._keys(digest)
        # Already stored: refresh it without sending the bytes again.
        if not await shielded(lambda: self._touch(keys, [digest])):
            await shielded(lambda: self._put(keys, [digest, bytes(data)]))
        return BlobRef(digest, len(data))

    async def get(self, sha256_hex: str) -> bytes:
        if not _SHA256_HEX.fullmatch(sha256_hex):
            raise BlobNotFound(sha256_hex)
        key = self._connection.key("code", "blob", sha256_hex)
        data = await self._connection.call(lambda: self._connection.client.get(key))
        if data is None:
            raise BlobNotFound(sha256_hex)
        # The client does not decode replies: this is always bytes already.
        return data.encode() if isinstance(data, str) else data

    async def exists(self, sha256_hex: str) -> bool:
        if not _SHA256_HEX.fullmatch(sha256_hex):
            return False
        key = self._connection.key("code", "blob", sha256_hex)
        found: int = await self._connection.call(lambda: self._connection.client.exists(key))
        return found == 1

    async def delete(self, sha256_hex: str) -> None:
        if _SHA256_HEX.fullmatch(sha256_hex):
            keys = self._keys(sha256_hex)
            await shielded(lambda: self._delete(keys, [sha256_hex]))

    async def list(self) -> builtins.list[BlobInfo]:
        reply = await self._list(self._index_keys, [])
        return [
            BlobInfo(text(reply[i]), int(reply[i + 2] or 0), float(reply[i + 1]))
            for i in range(0, len(reply), 3)
        ]

    async def delete_stale(self, sha256_hex: str, older_than_s: float) -> bool:
        if not _SHA256_HEX.fullmatch(sha256_hex):
            return False
        keys = self._keys(sha256_hex)
        # Lua's tonumber reads no "inf": an age beyond a million years is as good.
        age_s = f"{min(older_than_s, 1e13):.6f}"
        removed = await shielded(lambda: self._delete_stale(keys, [sha256_hex, age_s]))
        return bool(removed)

    async def close(self) -> None:
        """Release the client; later calls raise ``StoreUnavailable``."""
        await self._connection.close()
