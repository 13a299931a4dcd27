"""``roost doctor``: what isolation functions get on this machine, and why."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from roost.config import RoostConfig
from roost.worker.cgroups import CGROUP_ROOT
from roost.worker.isolation import Isolation, detect
from roost.worker.sandbox import bwrap_path, sandbox_interpreter

_PROBE_TIMEOUT_S = 10


def _first_line(command: list[str]) -> str | None:
    """The first line a short command prints, or None if it cannot run."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    output = (done.stdout or done.stderr).strip()
    return output.splitlines()[0] if done.returncode == 0 and output else None


def bubblewrap_line() -> str:
    """Where bubblewrap is and its version."""
    path = bwrap_path()
    if path is None:
        return "bubblewrap: not installed (apt-get install bubblewrap)"
    version = _first_line([path, "--version"]) or "version unknown"
    return f"bubblewrap: {version} ({path})"


def cgroup_line(isolation: Isolation, root: Path = CGROUP_ROOT) -> str:
    """The cgroup hierarchy of this host and whether Roost uses it."""
    if (root / "cgroup.controllers").exists():
        mode = "v2 (unified)"
    elif (root / "memory").is_dir():
        mode = "v1 (per-controller)"
    else:
        return f"cgroups: none mounted at {root}; rlimits bound memory"
    use = "used for memory and pids limits" if isolation.cgroups else "not used (rlimits instead)"
    return f"cgroups: {mode}, {use}"


def python_line(isolation: Isolation) -> str:
    """The interpreter Python functions run on, and its version."""
    if isolation.sandboxed:
        interpreter = sandbox_interpreter()
        if interpreter is None:
            return "sandbox python: none reachable by the sandbox uid"
    else:
        # Unsandboxed environments run the real binary behind Roost's venv.
        interpreter = str(Path(sys.executable).resolve())
    version = _first_line([interpreter, "-c", "import sys; print(sys.version.split()[0])"])
    return f"sandbox python: {interpreter} (Python {version or 'version unknown'})"


def doctor(args: argparse.Namespace) -> int:
    """Print the isolation in effect and what it rests on; always exit 0."""
    isolation = detect(RoostConfig.from_env().sandbox)
    lines = [
        isolation.describe(),
        bubblewrap_line(),
        cgroup_line(isolation),
        python_line(isolation),
        f"running as uid {os.geteuid()}",
    ]
    print("\n".join(lines))
    return 0
