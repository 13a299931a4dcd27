"""``Stores``: every store a node uses; here opened as the embedded store of one data directory.

A cluster node opens the same ``Stores`` on Redis instead (``shared.py``).

``roost.db`` (config: functions, versions, aliases, leases), the async queues,
the event source mappings and the stream checkpoints each have their own
database file, so a busy queue never waits behind a config write; code blobs
are files under ``code/``. With a ``FaultSwitch`` (``ROOST_FAULT_INJECTION``),
the config, mapping and queue stores obey it (``docs/resilience.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from roost.auth.secrets import SecretBox
from roost.store.faults import (
    FaultSwitch,
    FaultyConfigStore,
    FaultyMappingStore,
    FaultyQueueStore,
)
from roost.store.filesystem import FileCodeStore
from roost.store.ports import (
    CheckpointStore,
    CodeStore,
    ConfigStore,
    EventSourceMappingStore,
    QueueStore,
)
from roost.store.sqlite import SqliteConfigStore, SqliteMappingStore
from roost.store.sqlite.checkpoints import CHECKPOINT_DATABASE_NAME, SqliteCheckpointStore
from roost.store.sqlite.group_commit import DEFAULT_MAX_BATCH_OPS, CommitStats
from roost.store.sqlite.mappings import MAPPING_DATABASE_NAME
from roost.store.sqlite.queues import QUEUE_DATABASE_NAME, SqliteQueueStore


@dataclass(frozen=True)
class Stores:
    """A node's stores: one adapter per port, and the box that opens account secrets."""

    config: ConfigStore
    code: CodeStore
    secrets: SecretBox
    queues: QueueStore
    mappings: EventSourceMappingStore
    checkpoints: CheckpointStore
    # The queue store's group committer, for /metrics (variance reduction).
    queue_commits: Callable[[], CommitStats]
    queue_max_batch_ops: int

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        faults: FaultSwitch | None = None,
        *,
        queue_max_batch_ops: int = DEFAULT_MAX_BATCH_OPS,
        secrets: SecretBox | None = None,
    ) -> Stores:
        """Open (creating if needed) the stores under ``data_dir``.

        With ``faults``, the config, mapping and queue stores obey that switch
        (tests). ``queue_max_batch_ops`` bounds a queue transaction (1: no
        group commit).
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        opened: list[SqliteConfigStore | SqliteQueueStore | SqliteMappingStore] = []
        try:
            config = await SqliteConfigStore.open(data_dir / "roost.db")
            opened.append(config)
            queues = await SqliteQueueStore.open(
                data_dir / QUEUE_DATABASE_NAME, max_batch_ops=queue_max_batch_ops
            )
            opened.append(queues)
            mappings = await SqliteMappingStore.open(data_dir / MAPPING_DATABASE_NAME)
            opened.append(mappings)
            checkpoints = await SqliteCheckpointStore.open(data_dir / CHECKPOINT_DATABASE_NAME)
        except BaseException:
            for store in reversed(opened):
                await store.close()
            raise
        code = FileCodeStore(data_dir / "code")
        secrets = secrets or SecretBox.in_data_dir(data_dir)
        sqlite_queues = queues
        batching = (lambda: sqlite_queues.stats, queue_max_batch_ops)
        if faults is None:
            return cls(config, code, secrets, queues, mappings, checkpoints, *batching)
        return cls(
            FaultyConfigStore(config, faults),
            code,
            secrets,
            FaultyQueueStore(queues, faults),
            FaultyMappingStore(mappings, faults),
            checkpoints,
            *batching,
        )

    async def close(self) -> None:
        """Close the databases (the queue store finishes the writes it accepted)."""
        try:
            await self.queues.close()
        finally:
            try:
                await self.checkpoints.close()
                await self.mappings.close()
                await self.code.close()
            finally:
                await self.config.close()
