"""Memory and pids limits through the cgroup filesystem (v2 unified or v1 controllers).

A limit group is created per environment under a ``roost`` parent, made writable
by the sandbox uid so the launched process can move itself in before exec, and
removed when the environment is destroyed. Where cgroups are not writable the
worker falls back to rlimits (see ``sandbox``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class LimitGroup:
    """The cgroup directories of one environment (one per controller on v1)."""

    memory_dir: Path
    pids_dir: Path
    unified: bool

    @property
    def procs_files(self) -> list[Path]:
        """Files a process writes its pid to, to join the group."""
        dirs = [self.memory_dir] if self.unified else [self.memory_dir, self.pids_dir]
        return [d / "cgroup.procs" for d in dirs]

    def max_memory_bytes(self) -> int | None:
        """Peak memory use of the group so far, where the kernel reports it."""
        name = "memory.peak" if self.unified else "memory.max_usage_in_bytes"
        try:
            return int((self.memory_dir / name).read_text())
        except (OSError, ValueError):
            return None

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for memory."""
        try:
            if self.unified:
                events = (self.memory_dir / "memory.events").read_text()
                return any(
                    line.split()[0] == "oom_kill" and int(line.split()[1]) > 0
                    for line in events.splitlines()
                )
            control = (self.memory_dir / "memory.oom_control").read_text()
            return any(
                line.startswith("oom_kill ") and int(line.split()[1]) > 0
                for line in control.splitlines()
            )
        except (OSError, ValueError, IndexError):
            return False

    def remove(self) -> None:
        """Delete the group's directories (its processes must be gone)."""
        for directory in {self.memory_dir, self.pids_dir}:
            with contextlib.suppress(OSError):
                directory.rmdir()


class CgroupManager:
    """Creates limit groups, if this host lets Roost write cgroups."""

    def __init__(self, root: Path = CGROUP_ROOT, parent: str = "roost") -> None:
        self._root = root
        self._parent = parent
        self.unified = (root / "cgroup.controllers").exists()
        self.available = self._probe()

    def _parent_dir(self, controller: str) -> Path:
        base = self._root if self.unified else self._root / controller
        return base / self._parent

    def _probe(self) -> bool:
        try:
            for controller in ("memory", "pids"):
                self._parent_dir(controller).mkdir(exist_ok=True)
            if self.unified:
                control = self._parent_dir("memory") / "cgroup.subtree_control"
                control.write_text("+memory +pids")
            return True
        except OSError:
            return False

    def create(self, name: str, memory_bytes: int, max_pids: int, uid: int) -> LimitGroup:
        """A new group with the limits, joinable by ``uid``."""
        memory_dir = self._parent_dir("memory") / name
        pids_dir = memory_dir if self.unified else self._parent_dir("pids") / name
        group = LimitGroup(memory_dir, pids_dir, self.unified)
        memory_dir.mkdir(exist_ok=True)
        pids_dir.mkdir(exist_ok=True)
        if self.unified:
            (memory_dir / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):
                (memory_dir / "memory.swap.max").write_text("0")
            (pids_dir / "pids.max").write_text(str(max_pids))
        else:
            (memory_dir / "memory.limit_in_bytes").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):
                (memory_dir / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            (pids_dir / "pids.max").write_text(str(max_pids))
        for procs in group.procs_files:
            os.chown(procs, uid, -1)
        return group
