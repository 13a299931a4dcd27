"""Owner liveness: telling a crashed lease owner on this machine from a live one.

A lease whose owner crashed stays taken until it expires (``ttl_s``, 10 s by
default), so a node restarted after a crash waited that long before polling
its queues and mappings again. Owners that share a data directory can do
better: each keeper holds an ``flock`` on ``<data-dir>/owners/<owner>.lock``
for as long as its process lives. The kernel drops the lock when the process
dies, however it dies, so a lock that can be taken names a dead owner, whose
leases and membership can be freed at once. An owner with no lock file here
(another machine, with its own data directory) is never called dead: its
leases expire as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from pathlib import Path
from typing import Protocol

# Lock files of owners dead this long are removed at start-up (leases last seconds).
SWEEP_AFTER_S = 3600.0


class OwnerLiveness(Protocol):
    """Whether a lease owner is known to be gone."""

    def register(self, owner: str) -> None:
        """Mark ``owner`` (of this process) alive until ``unregister`` or process exit."""

    def unregister(self, owner: str) -> None:
        """``owner`` stopped cleanly."""

    def is_dead(self, owner: str) -> bool:
        """True only if ``owner`` is known to have died (False when unknown)."""


class UnknownLiveness:
    """No knowledge: every owner may be alive (leases only ever expire)."""

    def register(self, owner: str) -> None:
        """Nothing to hold."""

    def unregister(self, owner: str) -> None:
        """Nothing to release."""

    def is_dead(self, owner: str) -> bool:
        """Never known."""
        return False


class LockFileLiveness:
    """``OwnerLiveness`` by ``flock`` on one lock file per owner in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._held: dict[str, int] = {}
        self._dead: set[str] = set()

    def _path(self, owner: str) -> Path:
        # Owner ids hold ':' and '@'; a digest keeps the name safe and short.
        return self._directory / f"{hashlib.sha256(owner.encode()).hexdigest()[:32]}.lock"

    def register(self, owner: str) -> None:
        """Create and lock the owner's file (kept open until ``unregister`` or exit)."""
        self._directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(owner), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        self._held[owner] = fd

    def unregister(self, owner: str) -> None:
        """Remove the owner's file, then let go of its lock."""
        fd = self._held.pop(owner, None)
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self._path(owner).unlink()
        os.close(fd)

    def sweep(self, older_than_s: float = SWEEP_AFTER_S) -> int:
        """Remove the files of owners dead for longer than ``older_than_s`` (their
        leases expired long ago, so nobody will ask about them); how many. Younger
        ones stay: a keeper may still need them to free a crashed owner's leases."""
        removed = 0
        held = {self._path(owner) for owner in self._held}
        cutoff = time.time() - older_than_s
        for path in self._directory.glob("*.lock") if self._directory.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                if path in held or path.stat().st_mtime > cutoff:
                    continue
            if _lock_free(path):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                removed += 1
        return removed

    def is_dead(self, owner: str) -> bool:
        """Whether the owner's file exists and its lock can be taken (its process is gone)."""
        if owner in self._dead:
            return True
        if owner in self._held:
            return False
        path = self._path(owner)
        if not _lock_free(path):
            return False  # Alive, or not an owner of this data directory (no file).
        # Owner ids are unique per process, so a dead owner never comes back.
        self._dead.add(owner)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return True


def _lock_free(path: Path) -> bool:
    """Whether ``path`` exists and nobody holds its lock (its owner's process is gone)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
