"""The directory sandboxes read from: extracted code and the runtime client.

bwrap runs as the unprivileged sandbox uid and must reach every path it mounts,
so this area sits where that uid can traverse it (mode 0711: reachable, not
listable). The data directory is used when it is reachable; otherwise (a data
dir under /root, or pytest's private temp dirs) a directory under /var/tmp
named after the data dir. Everything here is a cache, rebuilt as needed; an area
under /var/tmp records its data dir in ``owner``, and areas whose data dir is
gone are deleted when another area is prepared.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path

from roost.worker.sandbox import RUNTIME_DIR, traversable_by_others

_RUNTIME_FILES = (
    "bootstrap.py",
    "client.py",
    "context.py",
    "netless.py",
    "namespaces.py",
    "zygote.py",
)
SHARED_ROOT = Path("/var/tmp")
_SHARED_PREFIX = "roost-sandbox-"
_ORPHAN_MIN_AGE_S = 3600.0


class SandboxArea:
    """``code/`` (the code cache), ``runtime/`` (Roost's runtime client) and
    ``slots/`` (pre-warmed environments' code directories, which their zygote
    sees all of: traversable but not listable by the sandbox uid)."""

    def __init__(self, root: Path, owner: Path | None = None) -> None:
        self.root = root
        self.owner = owner
        self.code_dir = root / "code"
        self.runtime_dir = root / "runtime"
        self.socket_dir = root / "sockets"
        self.slots_dir = root / "slots"

    @classmethod
    def for_data_dir(cls, data_dir: Path, shared_root: Path = SHARED_ROOT) -> SandboxArea:
        """The area that belongs to a data directory."""
        data_dir = data_dir.resolve()
        if traversable_by_others(data_dir):
            return cls(data_dir / "sandbox")
        digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
        return cls(shared_root / f"{_SHARED_PREFIX}{digest}", owner=data_dir)

    def prepare(self) -> None:
        """Create the area and install the current runtime client into it."""
        directories = (self.root, self.code_dir, self.runtime_dir, self.socket_dir, self.slots_dir)
        for directory in directories:
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, 0o711 if directory in (self.root, self.slots_dir) else 0o755)
        for name in _RUNTIME_FILES:
            shutil.copyfile(RUNTIME_DIR / name, self.runtime_dir / name)
            os.chmod(self.runtime_dir / name, 0o644)
        if self.owner is not None:
            owner_file = self.root / "owner"
            owner_file.write_text(str(self.owner))
            os.chmod(owner_file, 0o600)
            sweep_orphans(self.root.parent, keep=self.root)


def sweep_orphans(shared_root: Path, keep: Path, min_age_s: float = _ORPHAN_MIN_AGE_S) -> int:
    """Delete shared areas whose data directory no longer exists; how many went.

    Only areas that name their owner are touched, and only when untouched for
    ``min_age_s`` (an area being prepared right now is never old).
    """
    removed = 0
    now = time.time()
    for area in shared_root.glob(f"{_SHARED_PREFIX}*"):
        if area == keep:
            continue
        try:
            owner = Path((area / "owner").read_text())
            if owner.exists() or now - area.stat().st_mtime < min_age_s:
                continue
        except (OSError, ValueError):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(area)
            removed += 1
    return removed
