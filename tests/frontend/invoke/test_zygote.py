"""Pre-warmed Python environments forked from the zygote, seen through Invoke.

Functions must not notice where their environment came from, except that it
is ready sooner: each one is alone in its PID namespace, cannot see other
functions' code or the zygote's slots, holds no capability, and a zygote that
dies is replaced without the node going down.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.roost_process import RoostProcess
from tests.frontend.invoke.support import deploy_code, invoke
from tests.worker.zygotes import needs_zygote, zygote_python

pytestmark = needs_zygote

PROBE = """
import ctypes, errno, os

libc = ctypes.CDLL(None, use_errno=True)


def handler(event, context):
    if event.get("action") == "mount":
        os.makedirs("/tmp/mnt", exist_ok=True)
        if libc.mount(b"none", b"/tmp/mnt", b"tmpfs", 0, None) == 0:
            return "mounted"
        return errno.errorcode[ctypes.get_errno()]
    return {
        "pid": os.getpid(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "slots": sorted(os.listdir("/var/roost-slots")),
        "task": sorted(os.listdir("/var/task")),
        "name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
    }
"""


def zygote_sandboxes(roost: RoostProcess) -> list[int]:
    """Host pids of the node's zygote sandboxes (its bwrap children running zygote.py)."""
    assert roost.process is not None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == roost.process.pid and b"/var/runtime/zygote.py" in command:
            found.append(int(entry.name))
    return found


def test_a_python_function_runs_in_a_forked_environment_of_its_own(
    roost: RoostProcess, lambda_client: Any, function_name: str
) -> None:
    deploy_code(lambda_client, function_name, {"app.py": PROBE})

    _, seen = invoke(lambda_client, function_name, {})
    _, mounted = invoke(lambda_client, function_name, {"action": "mount"})

    assert zygote_sandboxes(roost)
    assert seen == {
        "pid": 1,
        "pids": [1],
        "slots": [],
        "task": ["app.py"],
        "name": function_name,
    }
    assert mounted == "EPERM"


def test_a_killed_zygote_is_replaced_and_functions_keep_working(
    fresh_roost: RoostProcess, function_name: str
) -> None:
    client = fresh_roost.client()
    deploy_code(client, function_name, {"app.py": PROBE})
    invoke(client, function_name, {})
    [sandbox] = zygote_sandboxes(fresh_roost)

    os.kill(zygote_python(sandbox), signal.SIGKILL)
    # The warm environment went with the zygote: an invoke that raced its death
    # fails as an exit, the next ones run in a new environment.
    deadline = time.monotonic() + 30
    while True:
        response, result = invoke(client, function_name, {})
        if "FunctionError" not in response or time.monotonic() > deadline:
            break
        assert result["errorType"] == "Runtime.ExitError"
        time.sleep(0.05)
    assert "FunctionError" not in response, result
    assert result["pids"] == [1]
    # A new zygote takes the dead one's place (on a busy host, a moment later).
    while True:
        replaced = zygote_sandboxes(fresh_roost)
        if (replaced and sandbox not in replaced) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert replaced and sandbox not in replaced


@pytest.mark.parametrize("memory_mb", [128, 256])
def test_pool_misses_are_forked_too(
    roost: RoostProcess, lambda_client: Any, function_name: str, memory_mb: int
) -> None:
    name = f"{function_name}-{memory_mb}"
    deploy_code(lambda_client, name, {"app.py": PROBE}, MemorySize=memory_mb)

    _, seen = invoke(lambda_client, name, {})

    assert seen["pids"] == [1]
    assert seen["slots"] == []


def test_roost_zygote_0_starts_fresh_interpreters(tmp_path: Path, function_name: str) -> None:
    node = RoostProcess(tmp_path / "data", env={"ROOST_ZYGOTE": "0"})
    node.start()
    try:
        client = node.client()
        source = "import os\n\ndef handler(event, context):\n    return {'pid': os.getpid(), "
        source += "'name': os.environ['AWS_LAMBDA_FUNCTION_NAME']}\n"
        deploy_code(client, function_name, {"app.py": source})

        _, seen = invoke(client, function_name, {})

        assert zygote_sandboxes(node) == []
        # bubblewrap's own init is PID 1 of a directly launched sandbox.
        assert seen["pid"] != 1 and seen["name"] == function_name
    finally:
        node.stop()
