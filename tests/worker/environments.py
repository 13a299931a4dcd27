"""Building ExecutionEnvironments directly, without a worker host or a Roost process."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import pytest

from roost.worker.cgroups import CgroupManager, LimitGroup
from roost.worker.environment import ExecutionEnvironment
from roost.worker.runtime_api import Invocation
from roost.worker.sandbox import SANDBOX_UID, SandboxSpec

ARN = "arn:aws:lambda:us-east-1:000000000000:function:unit"


def cgroups_writable() -> bool:
    """Whether this host lets Roost create limit groups (root with writable cgroups)."""
    return os.geteuid() == 0 and CgroupManager().available


needs_cgroups = pytest.mark.skipif(
    not cgroups_writable(), reason="needs writable cgroups (root on a cgroup v1/v2 host)"
)


def write_code(directory: Path, files: dict[str, str], executable: tuple[str, ...] = ()) -> Path:
    """A code directory with ``files`` (the ``executable`` ones mode 0755)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        path.chmod(0o755 if name in executable else 0o644)
    return directory


def limit_group(memory_mb: int, max_pids: int = 256) -> LimitGroup:
    """A fresh cgroup for one unit-test environment."""
    name = f"env-unit-{uuid.uuid4().hex}"
    return CgroupManager().create(name, memory_mb * 1024 * 1024, max_pids, SANDBOX_UID)


def python_environment(
    code_dir: Path,
    handler: str = "app.handler",
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 128,
    limits: LimitGroup | None = None,
    extra_env: dict[str, str] | None = None,
) -> ExecutionEnvironment:
    """An unsandboxed python3.12 environment of the code in ``code_dir``."""
    return _environment(code_dir, "python3.12", handler, timeout_s, memory_mb, limits, extra_env)


def provided_environment(
    code_dir: Path,
    *,
    timeout_s: float = 5.0,
    extra_env: dict[str, str] | None = None,
) -> ExecutionEnvironment:
    """An unsandboxed provided.al2023 environment running ``code_dir/bootstrap``."""
    return _environment(code_dir, "provided.al2023", "", timeout_s, 128, None, extra_env)


def _environment(
    code_dir: Path,
    runtime: str,
    handler: str,
    timeout_s: float,
    memory_mb: int,
    limits: LimitGroup | None,
    extra_env: dict[str, str] | None,
) -> ExecutionEnvironment:
    env_id = uuid.uuid4().hex
    variables = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "_HANDLER": handler,
        "AWS_LAMBDA_FUNCTION_NAME": "unit",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        **(extra_env or {}),
    }
    spec = SandboxSpec(
        env_id=env_id,
        runtime=runtime,
        code_dir=code_dir,
        environment=variables,
        memory_mb=memory_mb,
        ephemeral_storage_mb=512,
        limits=limits,
    )
    return ExecutionEnvironment(env_id, spec, "$LATEST", timeout_s, sandboxed=False)


def invocation(payload: bytes = b"{}", *, timeout_s: float = 5.0) -> Invocation:
    """An event with a fresh request id."""
    return Invocation(
        request_id=str(uuid.uuid4()),
        payload=payload,
        deadline_ms=int((time.time() + timeout_s) * 1000),
        invoked_function_arn=ARN,
        trace_id="Root=1-00000000-000000000000000000000000;Sampled=0",
    )


def pid_alive(pid: int) -> bool:
    """Whether a process exists (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def wait_until_gone(pid: int, timeout_s: float = 5.0) -> bool:
    """Wait for a process to disappear; whether it did."""
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True
