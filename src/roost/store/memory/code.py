"""A ``CodeStore`` held in a dict, for unit tests."""

from __future__ import annotations

import hashlib

from roost.store.errors import BlobNotFound
from roost.store.ports import BlobRef


class MemoryCodeStore:
    """Blobs keyed by their hex SHA-256 digest."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def put(self, data: bytes) -> BlobRef:
        digest = hashlib.sha256(data).hexdigest()
        self._blobs.setdefault(digest, bytes(data))
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
