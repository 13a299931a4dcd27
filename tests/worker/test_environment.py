"""ExecutionEnvironment driven directly: warm reuse, init failures, exits, timeouts, limits.

These run the real Python runtime client in plain processes (no bubblewrap: that
is covered end to end through boto3), with a real cgroup where the host allows.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from roost.worker.environment import RuntimeStatus
from tests.worker.environments import (
    cgroups_writable,
    invocation,
    limit_group,
    needs_cgroups,
    pid_alive,
    provided_environment,
    python_environment,
    wait_until_gone,
    write_code,
)

APP = """
import json, os, socket, subprocess, sys, time

def handler(event, context):
    action = event.get("action")
    if action == "pid":
        return os.getpid()
    if action == "print":
        print("printed", event["n"])
        return "done"
    if action == "exit":
        os._exit(event["code"])
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "daemon":
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(300)"],
            start_new_session=True,
        )
        return child.pid
    if action == "hog":
        blocks = [b"\\1" * (16 << 20) for _ in range(64)]
        return len(blocks)
    if action == "unserialisable":
        return {1, 2}
    if action == "connect_api":
        host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
        KEEP.append(socket.create_connection((host, int(port))))
        return [KEEP[-1].getsockname()[1], int(port)]
    return event

KEEP = []
"""


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_an_environment_is_reused_warm_and_reports_init_only_once(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", {"app.py": APP})

    async def scenario() -> None:
        env = python_environment(code)
        await env.start()
        try:
            assert env.status.name == "READY"
            first = await env.invoke(invocation(b'{"action": "pid"}'))
            second = await env.invoke(invocation(b'{"action": "pid"}'))
            assert first.function_error is None and second.function_error is None
            assert json.loads(first.payload) == json.loads(second.payload)
            assert first.init_duration_ms is not None
            assert second.init_duration_ms is None
            assert b"Init Duration: " in first.log
            assert b"Init Duration: " not in second.log
            assert env.status.name == "READY"
        finally:
            await env.destroy()
        assert env.status is RuntimeStatus.DEAD

    run(scenario())


def test_output_printed_during_an_invoke_is_in_its_log_between_start_and_end(
    tmp_path: Path,
) -> None:
    code = write_code(tmp_path / "code", {"app.py": 'print("init line")\n' + APP})

    async def scenario() -> None:
        env = python_environment(code)
        await env.start()
        try:
            event = invocation(b'{"action": "print", "n": 7}')
            outcome = await env.invoke(event)
        finally:
            await env.destroy()
        lines = outcome.log.decode().splitlines()
        assert lines[0] == f"START RequestId: {event.request_id} Version: $LATEST"
        assert "init line" in lines
        assert "printed 7" in lines
        assert lines[-2] == f"END RequestId: {event.request_id}"
        assert lines[-1].startswith(f"REPORT RequestId: {event.request_id}\tDuration: ")

    run(scenario())


def test_an_import_error_fails_init_and_the_environment_is_not_usable(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", {"app.py": "import not_a_module_anywhere\n"})

    async def scenario() -> None:
        env = python_environment(code)
        await env.start()
        try:
            assert env.init_failed
            outcome = await env.invoke(invocation())
            assert outcome.function_error == "Unhandled"
            assert json.loads(outcome.payload) == {
                "errorMessage": (
                    "Unable to import module 'app': No module named 'not_a_module_anywhere'"
                ),
                "errorType": "Runtime.ImportModuleError",
                "requestId": "",
                "stackTrace": [],
            }
            assert b"[ERROR] Runtime.ImportModuleError: Unable to import module" in outcome.log
            assert env.status is not RuntimeStatus.READY
        finally:
            await env.destroy()

    run(scenario())


def test_a_runtime_that_exits_during_init_is_an_exit_error_with_the_request_id(
    tmp_path: Path,
) -> None:
    code = write_code(
        tmp_path / "code",
        {"bootstrap": "#!/bin/sh\necho 'cannot start'\nexit 2\n"},
        executable=("bootstrap",),
    )

    async def scenario() -> None:
        env = provided_environment(code)
        await env.start()
        try:
            event = invocation()
            outcome = await env.invoke(event)
        finally:
            await env.destroy()
        assert outcome.function_error == "Unhandled"
        message = f"RequestId: {event.request_id} Error: Runtime exited with error: exit status 2"
        assert json.loads(outcome.payload) == {
            "errorType": "Runtime.ExitError",
            "errorMessage": message,
        }
        text = outcome.log.decode()
        assert "cannot start" in text
        assert f"{message}\nRuntime.ExitError\nEND RequestId: " in text

    run(scenario())


def test_an_exit_mid_invoke_is_an_exit_error_and_kills_the_environment(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", {"app.py": APP})

    async def scenario() -> None:
        env = python_environment(code)
        await env.start()
        try:
            event = invocation(b'{"action": "exit", "code": 3}')
            outcome = await env.invoke(event)
            assert env.status is RuntimeStatus.DEAD
        finally:
            await env.destroy()
        assert json.loads(outcome.payload) == {
            "errorType": "Runtime.ExitError",
            "errorMessage": (
                f"RequestId: {event.request_id} Error: Runtime exited with error: exit status 3"
            ),
        }
        assert b"\nRuntime.ExitError\n" in outcome.log

    run(scenario())


def test_a_marshal_error_keeps_the_environment_warm(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", {"app.py": APP})

    async def scenario() -> None:
        env = python_environment(code)
        await env.start()
        try:
            event = invocation(b'{"action": "unserialisable"}')
            outcome = await env.invoke(event)
            after = await env.invoke(invocation(b'{"after": 1}'))
        finally:
            await env.destroy()
        assert json.loads(outcome.payload) == {
            "errorMessage": (
                "Unable to marshal response: Object of type set is not JSON serializable"
            ),
            "errorType": "Runtime.MarshalError",
            "requestId": event.request_id,
            "stackTrace": [],
        }
        assert after.function_error is None
        assert json.loads(after.payload) == {"after": 1}

    run(scenario())


def test_a_timeout_is_sandbox_timedout_and_destroys_the_environment(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", {"app.py": APP})

    async def scenario() -> None:
        env = python_environment(code, timeout_s=0.5)
        await env.start()
        try:
            pid = json.loads((await env.invoke(invocation(b'{"action": "pid"}'))).payload)
            event = invocation(b'{"action": "sleep", "seconds": 30}')
            outcome = await env.invoke(event)
            assert env.status is RuntimeStatus.DEAD
            assert await wait_until_gone(pid)
        finally:
            await env.destroy()
        assert outcome.function_error == "Unhandled"
        assert json.loads(outcome.payload) == {
            "errorType": "Sandbox.Timedout",
            "errorMessage": (
                f"RequestId: {event.request_id} Error: Task timed out after 0.50 seconds"
            ),
        }
        assert f" {event.request_id} Task timed out after 0.50 seconds\n" in outcome.log.decode()

    run(scenario())


@needs_cgroups
def test_destroy_kills_processes_that_left_the_session_and_removes_the_cgroup(
    tmp_path: Path,
) -> None:
    code = write_code(tmp_path / "code", {"app.py": APP})
    limits = limit_group(256)

    async def scenario() -> None:
        env = python_environment(code, limits=limits)
        await env.start()
        try:
            daemon = json.loads((await env.invoke(invocation(b'{"action": "daemon"}'))).payload)
            assert pid_alive(daemon)
            assert daemon in limits.pids()
        finally:
            await env.destroy()
        assert not pid_alive(daemon)
        assert not any(directory.exists() for directory in limits.directories)

    run(scenario())


@needs_cgroups
def test_a_memory_hog_is_out_of_memory_within_its_cgroup(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", {"app.py": APP})
    limits = limit_group(128)

    async def scenario() -> None:
        env = python_environment(code, memory_mb=128, limits=limits, timeout_s=30)
        await env.start()
        try:
            event = invocation(b'{"action": "hog"}')
            outcome = await env.invoke(event)
            assert env.status is RuntimeStatus.DEAD
        finally:
            await env.destroy()
        assert json.loads(outcome.payload) == {
            "errorType": "Runtime.OutOfMemory",
            "errorMessage": (
                f"RequestId: {event.request_id} Error: Runtime exited with error: signal: killed"
            ),
        }
        assert b"\nRuntime.OutOfMemory\n" in outcome.log
        assert b"Max Memory Used: 128 MB" in outcome.log

    run(scenario())


def test_destroy_during_an_invoke_settles_it(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", {"app.py": APP})

    async def scenario() -> None:
        env = python_environment(code, timeout_s=30)
        await env.start()
        event = invocation(b'{"action": "sleep", "seconds": 30}')
        running = asyncio.create_task(env.invoke(event))
        await asyncio.sleep(0.2)
        await env.destroy()
        outcome = await asyncio.wait_for(running, 5)
        assert outcome.function_error == "Unhandled"
        assert json.loads(outcome.payload)["errorType"] == "Runtime.ExitError"

    run(scenario())


@pytest.mark.parametrize("calls", [1, 2])
def test_destroy_is_idempotent(tmp_path: Path, calls: int) -> None:
    code = write_code(tmp_path / "code", {"app.py": APP})

    async def scenario() -> None:
        env = python_environment(code)
        await env.start()
        for _ in range(calls):
            await env.destroy()
        assert env.status is RuntimeStatus.DEAD

    run(scenario())


OUTSIDER = """
import socket, sys, time
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(sock.getsockname()[1], flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize("with_cgroup", [False, True], ids=["process-tree", "cgroup"])
def test_only_the_environments_own_processes_are_its_runtime_api_peers(
    tmp_path: Path, with_cgroup: bool
) -> None:
    if with_cgroup and not cgroups_writable():
        pytest.skip("needs writable cgroups")
    code = write_code(tmp_path / "code", {"app.py": APP})

    async def scenario() -> None:
        env = python_environment(code, limits=limit_group(128) if with_cgroup else None)
        await env.start()
        try:
            outcome = await env.invoke(invocation(b'{"action": "connect_api"}'))
            inside_port, api_port = json.loads(outcome.payload)
            api = ("127.0.0.1", api_port)
            # Another process (a function elsewhere) connects to this API; Roost's
            # own process is trusted by design, so the outsider must be another.
            outsider = await asyncio.create_subprocess_exec(
                sys.executable, "-c", OUTSIDER, str(api_port), stdout=asyncio.subprocess.PIPE
            )
            try:
                assert outsider.stdout is not None
                outside_port = int(await outsider.stdout.readline())
                assert env.owns_peer(("127.0.0.1", inside_port), api)
                assert not env.owns_peer(("127.0.0.1", outside_port), api)
                assert not env.owns_peer(("127.0.0.1", 1), api)
            finally:
                outsider.kill()
                await outsider.wait()
        finally:
            await env.destroy()
        assert not env.owns_peer(("127.0.0.1", inside_port), api)

    run(scenario())
