"""In-memory adapters of the store port, for unit tests; held to the same contract."""

from roost.store.memory.checkpoints import MemoryCheckpointStore
from roost.store.memory.code import MemoryCodeStore
from roost.store.memory.config import MemoryConfigStore
from roost.store.memory.counters import MemoryConcurrencyCounters
from roost.store.memory.mappings import MemoryMappingStore
from roost.store.memory.queues import MemoryQueueStore

__all__ = [
    "MemoryCheckpointStore",
    "MemoryCodeStore",
    "MemoryConcurrencyCounters",
    "MemoryConfigStore",
    "MemoryMappingStore",
    "MemoryQueueStore",
]
