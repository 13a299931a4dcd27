"""Which isolation this host can give environments, and why (``roost doctor``),
and the processes of an environment without a cgroup (``descendants``).

How a Runtime API connection is traced to the process that opened it is in
``worker.socket_owner``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from roost.runtime import namespaces
from roost.worker.cgroups import CgroupManager
from roost.worker.sandbox import bwrap_path, run_probe, sandbox_interpreter


@dataclass(frozen=True)
class Isolation:
    """The sandbox and limit mechanisms in effect."""

    sandboxed: bool
    cgroups: bool
    reasons: tuple[str, ...]
    zygote: bool = False

    def describe(self) -> str:
        """One paragraph for start-up output and ``roost doctor``."""
        mode = "bubblewrap sandboxes" if self.sandboxed else "UNSANDBOXED plain processes"
        limits = "cgroup memory/pids limits" if self.cgroups else "rlimits only"
        lines = [f"isolation: {mode}, {limits}"]
        if self.zygote:
            lines.append(
                "  - Python environments are forked from a zygote per interpreter "
                "(each in its own user, mount, PID, IPC and UTS namespaces)"
            )
        lines += [f"  - {reason}" for reason in self.reasons]
        return "\n".join(lines)


def detect(want_sandbox: bool = True) -> Isolation:
    """Probe bubblewrap, a reachable interpreter and writable cgroups."""
    reasons: list[str] = []
    sandboxed = want_sandbox
    if not want_sandbox:
        reasons.append("sandboxing was turned off by configuration")
    elif bwrap_path() is None:
        sandboxed = False
        reasons.append("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    elif sandbox_interpreter() is None:
        sandboxed = False
        reasons.append("no Python interpreter reachable by the sandbox uid (install python3)")
    zygote = False
    if sandboxed:
        refused = zygote_refused()
        zygote = refused is None
        if refused is not None:
            reasons.append(f"every environment starts a fresh interpreter: {refused}")
    cgroups = os.geteuid() == 0 and CgroupManager().available
    if not cgroups:
        reasons.append("cgroups are not writable here: memory is bounded by rlimits")
    return Isolation(sandboxed, cgroups, tuple(reasons), zygote)


def zygote_refused() -> str | None:
    """Why environments cannot be forked from a zygote here (None: they can).

    A zygote's children make nested user, mount and PID namespaces inside the
    sandbox, which some kernels and container runtimes refuse.
    """
    interpreter = sandbox_interpreter()
    if interpreter is None:
        return "no Python interpreter reachable by the sandbox uid"
    source = Path(namespaces.__file__).read_text()
    code, output = run_probe(interpreter, f"{source}\nprobe()\n")
    if code == 0:
        return None
    detail = output.strip().splitlines()[-1] if output.strip() else f"exit {code}"
    return f"nested namespaces are refused inside the sandbox ({detail})"


def descendants(root_pid: int) -> list[int]:
    """``root_pid`` and every process below it (for environments without a cgroup)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [root_pid]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found
