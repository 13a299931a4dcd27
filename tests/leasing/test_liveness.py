"""Owner liveness by lock files: a crashed owner on this machine is known dead at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from roost.leasing import KeeperConfig, LeaseKeeper, LeaseTable
from roost.leasing.liveness import LockFileLiveness
from roost.store.ports import ConfigStore
from tests.fixtures.stores import FakeClock, RunWithStore
from tests.leasing.support import Recorder

# Registers OWNER, says so, then waits to be killed.
_HOLDER = """
import sys, time
from pathlib import Path
from roost.leasing.liveness import LockFileLiveness
LockFileLiveness(Path(sys.argv[1])).register(sys.argv[2])
print("held", flush=True)
time.sleep(600)
"""


def hold_then_kill(directory: Path, owner: str) -> subprocess.Popen[str]:
    """A process holding ``owner``'s lock; the caller kills it."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(directory), owner], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline() == "held\n"
    return child


def kill(child: subprocess.Popen[str]) -> None:
    """SIGKILL: no clean-up runs in the child."""
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.stdout is not None
    child.stdout.close()


def test_an_owner_is_alive_while_its_process_lives_and_dead_once_it_is_killed(
    tmp_path: Path,
) -> None:
    liveness = LockFileLiveness(tmp_path)
    child = hold_then_kill(tmp_path, "async-poller-0@host:1:ab")
    try:
        assert not liveness.is_dead("async-poller-0@host:1:ab")
    finally:
        kill(child)

    assert liveness.is_dead("async-poller-0@host:1:ab")
    assert liveness.is_dead("async-poller-0@host:1:ab")  # and stays so
    assert list(tmp_path.iterdir()) == []  # its file is cleaned up


def test_owners_unknown_here_and_this_processs_own_are_never_dead(tmp_path: Path) -> None:
    liveness = LockFileLiveness(tmp_path)
    liveness.register("mine")

    assert not liveness.is_dead("mine")
    assert not liveness.is_dead("on-another-machine")  # no file: only its ttl can tell
    liveness.unregister("mine")
    assert list(tmp_path.iterdir()) == []


def test_a_dead_owners_leases_and_membership_are_taken_before_they_expire(
    run_with_store: RunWithStore, tmp_path: Path
) -> None:
    config = KeeperConfig(ttl_s=9.0, store_timeout_s=60.0)
    resources = {f"queue-{n}" for n in range(4)}

    async def current() -> set[str]:
        return resources

    async def scenario(store: ConfigStore) -> None:
        clock = FakeClock()
        table = LeaseTable(store, "lease/async/", clock=clock)
        dead, heir = Recorder(), Recorder()
        child = hold_then_kill(tmp_path, "crashed")
        crashed = LeaseKeeper(table, "crashed", current, dead, config, LockFileLiveness(tmp_path))
        await crashed.tick()
        assert dead.working == resources
        kill(child)  # no stop(): its leases still run

        keeper = LeaseKeeper(table, "restarted", current, heir, config, LockFileLiveness(tmp_path))
        result = await keeper.tick()  # the clock has not moved

        assert sorted(result.revoked) == sorted(resources)
        assert result.share == 4  # the dead member does not count
        assert heir.working == resources

    run_with_store(scenario)


def test_a_sweep_removes_only_files_of_owners_dead_for_long(tmp_path: Path) -> None:
    liveness = LockFileLiveness(tmp_path)
    liveness.register("alive")
    for owner in ("dead-long-ago", "dead-just-now"):
        kill(hold_then_kill(tmp_path, owner))
    old = time.time() - 7200
    for path in tmp_path.iterdir():
        if path != liveness._path("dead-just-now"):
            os.utime(path, (old, old))  # "alive" is old too, but its lock is held

    assert liveness.sweep() == 1
    assert not liveness._path("dead-long-ago").exists()
    assert liveness.is_dead("dead-just-now")  # still there to be asked about
    assert not liveness.is_dead("alive")
