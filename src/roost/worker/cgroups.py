"""Memory, pids and CPU limits through the cgroup filesystem (v2 unified or v1 controllers).

A limit group is created per environment under a ``roost`` parent, made writable
by the sandbox uid so the launched process can move itself in before exec, and
removed when the environment is destroyed. Where cgroups are not writable the
worker falls back to rlimits (see ``sandbox``).

The group is also how an environment is torn down: every process in it is killed
(a fork bomb or a daemon that left the sandbox's session included) and the group
is removed only once it is empty, so no limit group outlives its environment.
Environments share the ``roost`` parent's CPU weight, so a runaway function
cannot starve the worker host of CPU.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
_KILL_ROUNDS_SLEEP_S = 0.005


class PeakMemory:
    """The peak memory use of a group, read on every invoke (the REPORT line's Max
    Memory Used) through one open file: a re-read at offset 0 makes the kernel
    report anew, and costs a fraction of opening the file each time."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1

    def read(self) -> int | None:
        """Bytes at the peak so far, None where the kernel does not say."""
        try:
            if self._fd < 0:
                self._fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            return int(os.pread(self._fd, 64, 0))
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        """Release the file (before the group is removed)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True)
class LimitGroup:
    """The cgroup directories of one environment (one per controller on v1)."""

    memory_dir: Path
    pids_dir: Path
    unified: bool
    cpu_dir: Path | None = None

    @property
    def directories(self) -> list[Path]:
        """Every directory of the group (once each)."""
        found = [self.memory_dir]
        for directory in (self.pids_dir, self.cpu_dir):
            if directory is not None and directory not in found:
                found.append(directory)
        return found

    @property
    def procs_files(self) -> list[Path]:
        """Files a process writes its pid to, to join the group."""
        return [d / "cgroup.procs" for d in self.directories]

    def peak_memory(self) -> PeakMemory:
        """A reader of the group's peak memory use (keep it; close it when done)."""
        name = "memory.peak" if self.unified else "memory.max_usage_in_bytes"
        return PeakMemory(self.memory_dir / name)

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

    def pids(self) -> list[int]:
        """The processes in the group now."""
        try:
            text = (self.pids_dir / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(line) for line in text.split()]

    def kill_all(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every process of the group until it is empty; whether it emptied.

        Killing repeatedly covers processes forked between reading the list and
        the kill (the pids limit bounds how many there can be).
        """
        kill_file = self.memory_dir / "cgroup.kill"
        if self.unified and kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        deadline = time.monotonic() + timeout_s
        while True:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() >= deadline:
                return False
            time.sleep(_KILL_ROUNDS_SLEEP_S)

    def remove(self, timeout_s: float = 2.0) -> bool:
        """Delete the group's directories; whether all of them went.

        Processes that were just killed can keep a group busy for a moment, so
        removal is retried until ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        remaining = [d for d in self.directories if d.exists()]
        while remaining:
            for directory in list(remaining):
                try:
                    directory.rmdir()
                    remaining.remove(directory)
                except FileNotFoundError:
                    remaining.remove(directory)
                except OSError:
                    pass
            if not remaining or time.monotonic() >= deadline:
                break
            time.sleep(_KILL_ROUNDS_SLEEP_S)
        return not remaining


class CgroupManager:
    """Creates limit groups, if this host lets Roost write cgroups."""

    def __init__(self, root: Path = CGROUP_ROOT, parent: str = "roost") -> None:
        self._root = root
        self._parent = parent
        self.unified = (root / "cgroup.controllers").exists()
        self.available = self._probe()
        self.cpu = self.available and self._probe_cpu()

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

    def _probe_cpu(self) -> bool:
        """Whether environments can get their own CPU group (weight-limited)."""
        try:
            if self.unified:
                (self._parent_dir("cpu") / "cgroup.subtree_control").write_text("+cpu")
                return True
            if not (self._root / "cpu").is_dir():
                return False
            self._parent_dir("cpu").mkdir(exist_ok=True)
            return True
        except OSError:
            return False

    def sweep(self, prefix: str = "env-", min_age_s: float = 300.0) -> int:
        """Remove empty groups left behind by workers that died; how many went.

        Only groups older than ``min_age_s`` are considered, so a group another
        worker just created (and has not moved its process into yet) is safe.
        """
        if not self.available:
            return 0
        controllers = ["memory"] if self.unified else ["memory", "pids", "cpu"]
        removed = 0
        now = time.time()
        for controller in controllers:
            parent = self._parent_dir(controller)
            try:
                children = [c for c in parent.iterdir() if c.is_dir()]
            except OSError:
                continue
            for child in children:
                if not child.name.startswith(prefix):
                    continue
                try:
                    if now - child.stat().st_mtime < min_age_s:
                        continue
                    if (child / "cgroup.procs").read_text().strip():
                        continue
                    child.rmdir()
                    removed += 1
                except OSError:
                    continue
        return removed

    def create(self, name: str, memory_bytes: int, max_pids: int, uid: int) -> LimitGroup:
        """A new group with the limits, joinable by ``uid``."""
        memory_dir = self._parent_dir("memory") / name
        pids_dir = memory_dir if self.unified else self._parent_dir("pids") / name
        cpu_dir: Path | None = None
        if self.cpu:
            cpu_dir = memory_dir if self.unified else self._parent_dir("cpu") / name
        group = LimitGroup(memory_dir, pids_dir, self.unified, cpu_dir)
        for directory in group.directories:
            directory.mkdir(exist_ok=True)
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
