"""Environments forked from a zygote: what each one is kept from, and zygotes dying.

These run a real zygote under bubblewrap and drive ``ExecutionEnvironment``s
forked from it, as the worker host does for pre-warmed Python environments.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from roost.worker.environment import ExecutionEnvironment, RuntimeStatus
from roost.worker.sandbox_area import SandboxArea
from roost.worker.zygote import ForkedProcess, ZygoteFleet
from tests.worker.environments import (
    invocation,
    limit_group,
    needs_cgroups,
    pid_alive,
    wait_until_gone,
)
from tests.worker.zygotes import (
    fleet_of,
    forked_environment,
    interpreter,
    needs_zygote,
    pid_namespace,
    zygote_python,
)

pytestmark = needs_zygote

PROBE = """
import ctypes, errno, os, signal, time

libc = ctypes.CDLL(None, use_errno=True)


def attempt(call):
    try:
        call()
        return "allowed"
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))


def checked(result):
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def read(path):
    try:
        if os.path.isdir(path):
            return {"listing": sorted(os.listdir(path))}
        with open(path, "rb") as source:
            return {"content": source.read(256).decode("latin-1")}
    except OSError as error:
        return {"error": errno.errorcode.get(error.errno, str(error.errno))}


def write(path):
    with open(path, "w") as sink:
        sink.write("x")


def handler(event, context):
    action = event.get("action")
    if action == "pids":
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        return {"pid": os.getpid(), "pids": pids}
    if action == "kill":
        return attempt(lambda: os.kill(event["pid"], signal.SIGKILL))
    if action == "tmp":
        found = open("/tmp/marker").read() if os.path.exists("/tmp/marker") else None
        if event.get("write"):
            write("/tmp/marker")
        return found
    if action == "read":
        return {path: read(path) for path in event["paths"]}
    if action == "write":
        return {path: attempt(lambda path=path: write(path)) for path in event["paths"]}
    if action == "privileged":
        os.makedirs("/tmp/mnt", exist_ok=True)
        return {
            "mount": attempt(lambda: checked(libc.mount(b"none", b"/tmp/mnt", b"tmpfs", 0, None))),
            "umount": attempt(lambda: checked(libc.umount2(b"/tmp", 0))),
            "setuid": attempt(lambda: os.setuid(0)),
            "status": {
                line.split(":")[0]: line.split(":")[1].strip()
                for line in open("/proc/self/status")
                if line.startswith(("Cap", "NoNewPrivs"))
            },
        }
    if action == "exit":
        os._exit(event["code"])
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "hog":
        blocks = [b"\\1" * (16 << 20) for _ in range(64)]
        return len(blocks)
    return event
"""


@pytest.fixture
def area(tmp_path: Path) -> Iterator[SandboxArea]:
    """A sandbox area of this test alone (under /var/tmp: the sandbox uid reaches it)."""
    found = SandboxArea.for_data_dir(tmp_path / "data")
    found.prepare()
    yield found
    shutil.rmtree(found.root, ignore_errors=True)


Scenario = Callable[[ZygoteFleet], Awaitable[None]]


def with_fleet(scenario: Scenario, area: SandboxArea) -> None:
    async def main() -> None:
        fleet = fleet_of(area)
        try:
            await scenario(fleet)
        finally:
            await fleet.stop()

    asyncio.run(main())


async def call(env: ExecutionEnvironment, event: dict[str, Any]) -> Any:
    outcome = await env.invoke(invocation(json.dumps(event).encode()))
    assert outcome.function_error is None, outcome.payload
    return json.loads(outcome.payload)


async def started(*envs: ExecutionEnvironment) -> None:
    for env in envs:
        await env.start()
        assert env.status is RuntimeStatus.READY


def test_an_environment_is_forked_from_the_zygote_and_runs_alone_as_pid_1(
    area: SandboxArea,
) -> None:
    async def scenario(fleet: ZygoteFleet) -> None:
        env = forked_environment(area, fleet, {"app.py": PROBE})
        await started(env)
        try:
            seen = await call(env, {"action": "pids"})
            [root] = env.processes()[:1]
            zygote = fleet.zygotes()[interpreter()]
            assert zygote.pid is not None
        finally:
            await env.destroy()
        # The runtime is pid 1 of a namespace of its own (the zygote reaps it).
        assert seen == {"pid": 1, "pids": [1]}
        assert root != zygote.pid

    with_fleet(scenario, area)


def test_environments_cannot_see_or_signal_each_other(area: SandboxArea) -> None:
    async def scenario(fleet: ZygoteFleet) -> None:
        first = forked_environment(area, fleet, {"app.py": PROBE})
        second = forked_environment(area, fleet, {"app.py": PROBE})
        await started(first, second)
        try:
            second_pids = second.processes()
            assert second_pids
            assert pid_namespace(first.processes()[0]) != pid_namespace(second_pids[0])
            # Host pids of the other environment name nothing inside this one.
            tried = [await call(first, {"action": "kill", "pid": pid}) for pid in second_pids]
            alive = all(pid_alive(pid) for pid in second_pids)
            after = await call(second, {"n": 1})
        finally:
            await first.destroy()
            await second.destroy()
        assert set(tried) == {"ESRCH"}
        assert alive
        assert after == {"n": 1}

    with_fleet(scenario, area)


def test_each_environment_has_its_own_tmp(area: SandboxArea) -> None:
    async def scenario(fleet: ZygoteFleet) -> None:
        first = forked_environment(area, fleet, {"app.py": PROBE})
        second = forked_environment(area, fleet, {"app.py": PROBE})
        await started(first, second)
        try:
            before = await call(first, {"action": "tmp", "write": True})
            other = await call(second, {"action": "tmp"})
            again = await call(first, {"action": "tmp"})
        finally:
            await first.destroy()
            await second.destroy()
        assert (before, other, again) == (None, None, "x")

    with_fleet(scenario, area)


def test_other_slots_and_the_zygotes_files_are_out_of_reach(area: SandboxArea) -> None:
    async def scenario(fleet: ZygoteFleet) -> None:
        victim = forked_environment(area, fleet, {"app.py": PROBE, "secret.txt": "hidden"})
        probe = forked_environment(area, fleet, {"app.py": PROBE})
        await started(victim, probe)
        try:
            slot = victim.spec.code_dir.name
            found = await call(
                probe,
                {
                    "action": "read",
                    "paths": [
                        "/var/roost-slots",
                        f"/var/roost-slots/{slot}/secret.txt",
                        f"/proc/1/root/var/roost-slots/{slot}/secret.txt",
                        f"{victim.spec.code_dir}/secret.txt",
                        "/var/task/app.py",
                    ],
                },
            )
            own = await call(victim, {"action": "read", "paths": ["/var/task/secret.txt"]})
        finally:
            await victim.destroy()
            await probe.destroy()
        assert found.pop("/var/roost-slots") == {"listing": []}
        assert "import ctypes" in found.pop("/var/task/app.py")["content"]
        assert all("error" in outcome for outcome in found.values()), found
        assert own == {"/var/task/secret.txt": {"content": "hidden"}}

    with_fleet(scenario, area)


def test_a_forked_environment_has_no_capabilities_and_writes_only_tmp_and_shm(
    area: SandboxArea,
) -> None:
    async def scenario(fleet: ZygoteFleet) -> None:
        env = forked_environment(area, fleet, {"app.py": PROBE})
        await started(env)
        try:
            privileged = await call(env, {"action": "privileged"})
            paths = ["/x", "/var/x", "/run/x", "/dev/x", "/var/task/x", "/tmp/x", "/dev/shm/x"]
            written = await call(env, {"action": "write", "paths": paths})
        finally:
            await env.destroy()
        assert privileged["mount"] == "EPERM"
        assert privileged["umount"] == "EPERM"
        assert privileged["setuid"] in {"EPERM", "EINVAL"}
        status = privileged["status"]
        for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(status[capabilities], 16) == 0, capabilities
        assert status["NoNewPrivs"] == "1"
        assert written == {
            "/x": "EROFS",
            "/var/x": "EROFS",
            "/run/x": "EROFS",
            "/dev/x": "EROFS",
            "/var/task/x": "EROFS",
            "/tmp/x": "allowed",
            "/dev/shm/x": "allowed",
        }

    with_fleet(scenario, area)


@pytest.mark.parametrize(
    ("event", "detail"),
    [
        ({"action": "exit", "code": 3}, "exit status 3"),
        ({"action": "sleep", "seconds": 10, "signal": signal.SIGKILL}, "signal: kill"),
    ],
    ids=["exit", "signal"],
)
def test_the_runtimes_exit_is_relayed_as_an_exit_error(
    area: SandboxArea, event: dict[str, Any], detail: str
) -> None:
    async def scenario(fleet: ZygoteFleet) -> None:
        env = forked_environment(area, fleet, {"app.py": PROBE}, timeout_s=30)
        await started(env)
        try:
            request = invocation(json.dumps(event).encode())
            running = asyncio.create_task(env.invoke(request))
            if "signal" in event:
                # From outside (as pid 1 of its namespace, the runtime gets only
                # the signals it handles, and SIGKILL from an ancestor namespace).
                await asyncio.sleep(0.3)
                os.kill(env.processes()[0], event["signal"])
            outcome = await running
            assert env.status is RuntimeStatus.DEAD
        finally:
            await env.destroy()
        assert json.loads(outcome.payload) == {
            "errorType": "Runtime.ExitError",
            "errorMessage": (
                f"RequestId: {request.request_id} Error: Runtime exited with error: {detail}"
            ),
        }

    with_fleet(scenario, area)


@needs_cgroups
def test_a_forked_environment_is_limited_by_its_cgroup_from_the_start(area: SandboxArea) -> None:
    limits = limit_group(128)

    async def scenario(fleet: ZygoteFleet) -> None:
        env = forked_environment(area, fleet, {"app.py": PROBE}, limits=limits, timeout_s=30)
        await started(env)
        try:
            members = set(limits.pids())
            request = invocation(b'{"action": "hog"}')
            outcome = await env.invoke(request)
        finally:
            await env.destroy()
        # The runtime is in the group: nothing ran outside it.
        assert len(members) == 1
        assert json.loads(outcome.payload)["errorType"] == "Runtime.OutOfMemory"
        assert not any(directory.exists() for directory in limits.directories)

    with_fleet(scenario, area)


def test_a_killed_zygote_takes_its_environments_and_the_next_fork_restarts_it(
    area: SandboxArea,
) -> None:
    async def scenario(fleet: ZygoteFleet) -> None:
        before = forked_environment(area, fleet, {"app.py": PROBE})
        await started(before)
        old = fleet.zygotes()[interpreter()]
        assert old.pid is not None
        zygote = zygote_python(old.pid)
        try:
            os.kill(zygote, signal.SIGKILL)
            assert await wait_until_gone(zygote)
            # The environment's end and the zygote sandbox's exit are two events
            # that may reach the loop in either order: wait for both.
            deadline = time.monotonic() + 5
            while (
                before.status is not RuntimeStatus.DEAD or old.alive
            ) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert before.status is RuntimeStatus.DEAD
            assert not old.alive
            after = forked_environment(area, fleet, {"app.py": PROBE})
            await started(after)
            try:
                assert await call(after, {"n": 2}) == {"n": 2}
                assert isinstance(after._process, ForkedProcess)
            finally:
                await after.destroy()
        finally:
            await before.destroy()
        new = fleet.zygotes()[interpreter()]
        assert new is not old and new.alive

    with_fleet(scenario, area)


def test_without_a_usable_zygote_environments_are_launched_directly(area: SandboxArea) -> None:
    (area.runtime_dir / "zygote.py").write_text("raise SystemExit('no zygote here')\n")

    async def scenario(fleet: ZygoteFleet) -> None:
        env = forked_environment(area, fleet, {"app.py": PROBE})
        await started(env)
        try:
            assert await call(env, {"n": 3}) == {"n": 3}
            assert not isinstance(env._process, ForkedProcess)
        finally:
            await env.destroy()
        assert fleet.zygotes() == {}
        assert fleet.interpreter_for("python3.12", network=True) is None

    with_fleet(scenario, area)
