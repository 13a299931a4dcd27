"""A ``CodeStore`` held in a dict, for unit tests."""

from __future__ import annotations

import builtins
import hashlib
import time
from collections.abc import Callable

from roost.store.errors import BlobNotFound
from roost.store.ports import BlobInfo, BlobRef


class MemoryCodeStore:
    """Blobs keyed by their hex SHA-256 digest."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._blobs: dict[str, bytes] = {}
        self._touched: dict[str, float] = {}
        self._clock = clock

    async def put(self, data: bytes) -> BlobRef:
        digest = hashlib.sha256(data).hexdigest()
        self._blobs.setdefault(digest, bytes(data))
        self._touched[digest] = self._clock()
        return BlobRef(digest, len(data))

    async def get(self, sha256_hex: str) -> bytes:
        try:
            return self._blobs[sha256_hex]
        except KeyError:
            raise BlobNotFound(sha256_hex) from None

    async def exists(self, sha256_hex: str) -> bool:
        return sha256_hex in self._blobs

    async def delete(self, sha256_hex: str) -> None:
        self._blobs.pop(sha256_hex, None)
        self._touched.pop(sha256_hex, None)

    async def list(self) -> builtins.list[BlobInfo]:
        return [BlobInfo(k, len(v), self._touched[k]) for k, v in self._blobs.items()]

    async def delete_stale(self, sha256_hex: str, older_than_s: float) -> bool:
        touched = self._touched.get(sha256_hex)
        if touched is None or self._clock() - touched < older_than_s:
            return False
        await self.delete(sha256_hex)
        return True

    async def close(self) -> None:
        """Nothing to release: blobs are in memory."""
