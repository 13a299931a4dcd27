"""The directory sandboxes read from: extracted code and the runtime client.

bwrap runs as the unprivileged sandbox uid and must reach every path it mounts,
so this area sits where that uid can traverse it (mode 0711: reachable, not
listable). The data directory is used when it is reachable; otherwise (a data
dir under /root, or pytest's private temp dirs) a directory under /var/tmp
named after the data dir. Everything here is a cache, rebuilt as needed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from roost.worker.sandbox import RUNTIME_DIR, traversable_by_others

_RUNTIME_FILES = ("bootstrap.py", "client.py", "context.py")


class SandboxArea:
    """``code/`` (the code cache) and ``runtime/`` (Roost's runtime client)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.code_dir = root / "code"
        self.runtime_dir = root / "runtime"

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SandboxArea:
        """The area that belongs to a data directory."""
        data_dir = data_dir.resolve()
        if traversable_by_others(data_dir):
            return cls(data_dir / "sandbox")
        digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
        return cls(Path("/var/tmp") / f"roost-sandbox-{digest}")

    def prepare(self) -> None:
        """Create the area and install the current runtime client into it."""
        for directory in (self.root, self.code_dir, self.runtime_dir):
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, 0o711 if directory == self.root else 0o755)
        for name in _RUNTIME_FILES:
            shutil.copyfile(RUNTIME_DIR / name, self.runtime_dir / name)
            os.chmod(self.runtime_dir / name, 0o644)
