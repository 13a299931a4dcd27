"""The worker heartbeat: a host goes on publishing its record through faults."""

from __future__ import annotations

import asyncio
from pathlib import Path

from roost.cluster.heartbeat import NodeIdentity, WorkerHeartbeat
from roost.cluster.worker_registry import WorkerRecord, WorkerRegistry
from roost.store.filesystem import FileCodeStore
from roost.store.memory import MemoryConfigStore
from roost.worker.host import HostSettings, WorkerHost
from roost.worker.sandbox_area import SandboxArea


class FirstPublishFails(WorkerRegistry):
    """A registry whose first write hits a bug (not a store error)."""

    def __init__(self) -> None:
        super().__init__(MemoryConfigStore())
        self.publishes = 0

    async def publish(self, record: WorkerRecord) -> None:
        self.publishes += 1
        if self.publishes == 1:
            raise RuntimeError("bug")
        await super().publish(record)


def test_a_heartbeat_that_hits_an_unexpected_error_beats_again(tmp_path: Path) -> None:
    async def main() -> None:
        # Given a worker host whose first beat fails for an unexpected reason
        area = SandboxArea.for_data_dir(tmp_path)
        area.prepare()
        settings = HostSettings(prewarm_per_size=0, sandboxed=False, zygote=False)
        host = WorkerHost(area, FileCodeStore(tmp_path / "code"), settings)
        registry = FirstPublishFails()
        identity = NodeIdentity("n1", "a", "http://n1")
        heartbeat = WorkerHeartbeat(registry, identity, host, interval_s=0.01)

        # When it beats for a while
        heartbeat.start()
        await asyncio.sleep(0.1)

        # Then the frontends see the host
        assert [r.node_id for r in await registry.list()] == ["n1"]
        await heartbeat.stop()

    asyncio.run(main())
