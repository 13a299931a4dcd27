"""``CodeStore`` on the local filesystem: one zip file per distinct package.

Blobs live at ``root/<first two hex digits>/<sha256 hex>.zip``; the fan-out keeps
directories small. A blob is written to a temporary file in its final directory,
fsynced, renamed into place and the directory fsynced, so a reader never sees a
partial file and ``put`` returns only once the bytes survive a power loss. Workers
unzip straight from ``path_of`` instead of copying the bytes through memory.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from pathlib import Path

from roost.store.errors import BlobNotFound
from roost.store.ports import BlobInfo, BlobRef

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class FileCodeStore:
    """Content-addressed deployment packages under ``root``.

    Blocking file I/O runs in threads (``asyncio.to_thread``), never on the loop.
    Digests are lowercase hex SHA-256; anything else names no blob (and is never
    turned into a path, so a digest cannot escape ``root``).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        # Puts and stale deletes of this process never interleave, so a blob put
        # again cannot be deleted between the age check and the unlink.
        self._lock = threading.Lock()

    def path_of(self, sha256_hex: str) -> Path:
        """Where the blob with this digest is (or would be) stored.

        Raises ``ValueError`` for anything but 64 lowercase hex digits.
        """
        if not _SHA256_HEX.fullmatch(sha256_hex):
            raise ValueError(f"not a lowercase hex sha256 digest: {sha256_hex!r}")
        return self.root / sha256_hex[:2] / f"{sha256_hex}.zip"

    async def put(self, data: bytes) -> BlobRef:
        return await asyncio.to_thread(self._put, data)

    async def get(self, sha256_hex: str) -> bytes:
        path = self._existing_path(sha256_hex)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise BlobNotFound(sha256_hex) from None

    async def exists(self, sha256_hex: str) -> bool:
        try:
            path = self.path_of(sha256_hex)
        except ValueError:
            return False
        return await asyncio.to_thread(path.is_file)

    async def delete(self, sha256_hex: str) -> None:
        try:
            path = self.path_of(sha256_hex)
        except ValueError:
            return
        # No directory fsync: a delete lost in a crash only leaves an
        # unreferenced blob behind, never a reference to a missing one.
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def list(self) -> builtins.list[BlobInfo]:
        return await asyncio.to_thread(self._list)

    async def delete_stale(self, sha256_hex: str, older_than_s: float) -> bool:
        try:
            path = self.path_of(sha256_hex)
        except ValueError:
            return False
        return await asyncio.to_thread(self._delete_stale, path, older_than_s)

    def _existing_path(self, sha256_hex: str) -> Path:
        try:
            return self.path_of(sha256_hex)
        except ValueError:
            raise BlobNotFound(sha256_hex) from None

    # Everything below runs in a worker thread.

    def _put(self, data: bytes) -> BlobRef:
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._write(self.path_of(digest), data)
        return BlobRef(digest, len(data))

    def _list(self) -> builtins.list[BlobInfo]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.glob("??/*.zip"):
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                found.append(BlobInfo(path.stem, stat.st_size, stat.st_mtime))
        return found

    def _delete_stale(self, path: Path, older_than_s: float) -> bool:
        with self._lock:
            try:
                if time.time() - path.stat().st_mtime < older_than_s:
                    return False
                path.unlink()
            except FileNotFoundError:
                return False
            return True

    def _write(self, path: Path, data: bytes) -> None:
        # Same digest means same bytes: a complete file (renames are atomic, so
        # only complete files have this name) is already the blob. Touching it
        # tells the code collector it is wanted again.
        if path.is_file() and path.stat().st_size == len(data):
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)
                return
        self._make_dir(path.parent)
        descriptor, temp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        # The rename is durable only once the directory entry is on disk.
        _fsync_dir(path.parent)

    def _make_dir(self, directory: Path) -> None:
        if directory.is_dir():
            return
        if not self.root.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            _fsync_dir(self.root.parent)
        directory.mkdir(exist_ok=True)
        # A new fan-out directory is itself an entry of root that must persist.
        _fsync_dir(self.root)

    async def close(self) -> None:
        """Nothing to release: blobs are plain files."""


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
