"""SQLite adapters of the store port: the embedded default, nothing to install.

Open the config store with ``await SqliteConfigStore.open(path)``, the internal
queues with ``await SqliteQueueStore.open(path)``, the event source mappings
with ``await SqliteMappingStore.open(path)`` and the stream shard checkpoints
with ``await SqliteCheckpointStore.open(path)``; all SQLite work runs on a
thread owned by the store, never on the event loop.
"""

from roost.store.sqlite.checkpoints import SqliteCheckpointStore
from roost.store.sqlite.config import SqliteConfigStore
from roost.store.sqlite.database import SqliteDatabase
from roost.store.sqlite.mappings import SqliteMappingStore
from roost.store.sqlite.queues import SqliteQueueStore

__all__ = [
    "SqliteCheckpointStore",
    "SqliteConfigStore",
    "SqliteDatabase",
    "SqliteMappingStore",
    "SqliteQueueStore",
]
