"""Environments forked from a real zygote, without a worker host or a Roost process."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from roost.worker.cgroups import LimitGroup
from roost.worker.environment import ExecutionEnvironment
from roost.worker.isolation import detect
from roost.worker.sandbox import SandboxSpec, sandbox_interpreter
from roost.worker.sandbox_area import SandboxArea
from roost.worker.zygote import ZygoteFleet
from tests.worker.environments import write_code

needs_zygote = pytest.mark.skipif(
    not detect().zygote, reason="needs bubblewrap and nested user namespaces in its sandboxes"
)

ZYGOTE_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "ROOST_PREWARMED": "1"}


def interpreter() -> str:
    """The interpreter sandboxed Python functions run on here."""
    found = sandbox_interpreter()
    assert found is not None
    return found


def fleet_of(area: SandboxArea) -> ZygoteFleet:
    """A fleet serving slots of ``area`` (must be called in a running event loop)."""
    return ZygoteFleet(area.runtime_dir, area.slots_dir, ZYGOTE_ENVIRONMENT)


def forked_environment(
    area: SandboxArea,
    fleet: ZygoteFleet,
    files: dict[str, str],
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 128,
    limits: LimitGroup | None = None,
) -> ExecutionEnvironment:
    """A python3.12 environment whose code is ``files``, launched through ``fleet``."""
    env_id = uuid.uuid4().hex
    slot = write_code(area.slots_dir / env_id, files)
    os.chmod(slot, 0o755)
    variables = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LAMBDA_TASK_ROOT": "/var/task",
        "_HANDLER": "app.handler",
        "AWS_LAMBDA_FUNCTION_NAME": "unit",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
    }
    spec = SandboxSpec(
        env_id=env_id,
        runtime="python3.12",
        code_dir=slot,
        environment=variables,
        memory_mb=memory_mb,
        ephemeral_storage_mb=64,
        runtime_client_dir=area.runtime_dir,
        limits=limits,
    )
    return ExecutionEnvironment(env_id, spec, "$LATEST", timeout_s, True, fleet.launch)


def pid_namespace(pid: int) -> str:
    """The PID namespace a host process lives in."""
    return os.readlink(f"/proc/{pid}/ns/pid")


def children(pid: int) -> list[int]:
    """Direct children of a host process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def zygote_python(sandbox_pid: int) -> int:
    """The zygote's Python process inside its sandbox (bwrap, then bwrap's init).

    Environments forked from it live in PID namespaces of their own; the zygote
    is the one process under the sandbox's init that shares the init's.
    """
    [init] = children(sandbox_pid)
    [zygote] = [p for p in children(init) if pid_namespace(p) == pid_namespace(init)]
    return zygote
