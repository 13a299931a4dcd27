"""Which isolation this host can give environments, and why (``roost doctor``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from roost.worker.cgroups import CgroupManager
from roost.worker.sandbox import bwrap_path, sandbox_interpreter


@dataclass(frozen=True)
class Isolation:
    """The sandbox and limit mechanisms in effect."""

    sandboxed: bool
    cgroups: bool
    reasons: tuple[str, ...]

    def describe(self) -> str:
        """One paragraph for start-up output and ``roost doctor``."""
        mode = "bubblewrap sandboxes" if self.sandboxed else "UNSANDBOXED plain processes"
        limits = "cgroup memory/pids limits" if self.cgroups else "rlimits only"
        lines = [f"isolation: {mode}, {limits}"]
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
    cgroups = os.geteuid() == 0 and CgroupManager().available
    if not cgroups:
        reasons.append("cgroups are not writable here: memory is bounded by rlimits")
    return Isolation(sandboxed, cgroups, tuple(reasons))
