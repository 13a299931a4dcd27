"""The remote executor: a live worker node with room runs its own invokes, without the hop."""

from __future__ import annotations

import asyncio
import time

from roost.cluster.directory import WorkerDirectory
from roost.cluster.remote_executor import RemoteExecutor
from roost.cluster.worker_registry import WorkerRecord, WorkerRegistry, version_id
from roost.cluster.zones import ZoneHealth
from roost.functions.model import CodeLocation, FunctionConfig
from roost.store.memory import MemoryConfigStore
from roost.worker.environment import InvokeOutcome
from roost.worker.runtime_api import Invocation

ACCOUNT = "111111111111"
CONFIG = FunctionConfig("fn", "python3.11", "role", "h.h", CodeLocation("a", "b", 1))
V = version_id(ACCOUNT, "fn", CONFIG.version, CONFIG.revision_id, False)


class CountingLocal:
    """A local executor that only counts the invokes it ran."""

    def __init__(self) -> None:
        self.runs = 0

    async def run(
        self, account_id: str, config: FunctionConfig, network: bool, invocation: Invocation
    ) -> InvokeOutcome:
        self.runs += 1
        return InvokeOutcome(b"{}", None, b"", 1.0)


def record(node: str, idle: int = 0) -> WorkerRecord:
    return WorkerRecord(
        node_id=node,
        zone="a",
        url="http://127.0.0.1:9",  # Nothing listens: a hop would fail to connect.
        slots=4,
        busy=0,
        memory_free_mb=1024,
        heartbeat_ms=int(time.time() * 1000),
        started_ms=0,
        idle={V: idle} if idle else {},
    )


def invoke(executor: RemoteExecutor) -> InvokeOutcome:
    invocation = Invocation("req", b"{}", int(time.time() * 1000) + 5000, "arn", "trace")

    async def go() -> InvokeOutcome:
        try:
            return await executor.run(ACCOUNT, CONFIG, False, invocation)
        finally:
            await executor.close()

    return asyncio.run(go())


def test_a_node_with_room_runs_locally_even_when_another_host_is_warm() -> None:
    # Given this node "me" with room and no warm environment, and "warm" with two idle
    directory = WorkerDirectory(WorkerRegistry(MemoryConfigStore()), ZoneHealth())
    directory.update([record("me"), record("warm", idle=2)])
    local = CountingLocal()
    executor = RemoteExecutor(
        directory, "s", node_id="me", local=local, local_has_room=lambda: True
    )

    # When an invoke comes in, then it runs here: no hop
    invoke(executor)
    assert (local.runs, executor.forwarded) == (1, 0)


def test_a_full_node_leaves_the_invoke_to_the_directory() -> None:
    # Given this node is full, and the only other host cannot be reached
    directory = WorkerDirectory(WorkerRegistry(MemoryConfigStore()), ZoneHealth())
    directory.update([record("me"), record("warm", idle=2)])
    local = CountingLocal()
    executor = RemoteExecutor(
        directory, "s", node_id="me", local=local, local_has_room=lambda: False
    )

    # When an invoke comes in, then the directory picks the warm host first, and
    # this node only once that host refused the connection
    invoke(executor)
    assert (executor.unreachable, local.runs) == (1, 1)
