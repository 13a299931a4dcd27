"""The worker's code cache: each deployment package extracted once, keyed by digest.

A package's digest never changes meaning, so an extracted tree is shared by every
environment of every version that uses it and never needs invalidation.
Extraction goes to a temporary directory renamed into place, so a crash leaves
no half-extracted tree under a digest's name. Declared entry sizes are enforced
while decompressing (a zip may lie about them).
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from roost.store.ports import CodeStore

_CHUNK = 1024 * 1024


class CodeCache:
    """Extracted packages under ``root/<sha256>``."""

    def __init__(self, root: Path, code: CodeStore) -> None:
        self.root = root
        self._code = code
        self._locks: dict[str, asyncio.Lock] = {}
        self._entries: dict[str, int] = {}

    def path_of(self, sha256_hex: str) -> Path:
        """Where the package's tree is (or will be)."""
        return self.root / sha256_hex

    def entries(self, sha256_hex: str) -> int | None:
        """How many files and directories the package has, if this cache extracted it."""
        return self._entries.get(sha256_hex)

    async def ensure(self, sha256_hex: str) -> Path:
        """The extracted tree of a package, extracting it on first use."""
        target = self.path_of(sha256_hex)
        if target.is_dir():
            return target
        lock = self._locks.setdefault(sha256_hex, asyncio.Lock())
        async with lock:
            if not target.is_dir():
                data = await self._code.get(sha256_hex)
                count = await asyncio.to_thread(self._extract, data, target)
                self._entries[sha256_hex] = count
        self._locks.pop(sha256_hex, None)
        return target

    def _extract(self, data: bytes, target: Path) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".extract-"))
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                entries = archive.infolist()
                for info in entries:
                    _extract_entry(archive, info, staging)
            os.chmod(staging, 0o755)
            os.replace(staging, target)
            return len(entries)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _extract_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path) -> None:
    # Paths were checked at upload (no absolute paths, no escapes).
    destination = root / info.filename
    mode = (info.external_attr >> 16) & 0o7777
    kind = (info.external_attr >> 16) & 0o170000
    if info.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    if kind == stat.S_IFLNK:
        os.symlink(archive.read(info)[:4096].decode(), destination)
        return
    remaining = info.file_size
    with archive.open(info) as source, open(destination, "wb") as sink:
        while remaining > 0:
            chunk = source.read(min(_CHUNK, remaining))
            if not chunk:
                break
            sink.write(chunk)
            remaining -= len(chunk)
    # Readable by the sandbox uid; executable bits kept from the archive.
    os.chmod(destination, 0o755 if mode & 0o111 else 0o644)
