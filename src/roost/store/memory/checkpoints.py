"""A ``CheckpointStore`` held in a dict; nothing survives the process."""

from __future__ import annotations

import dataclasses
import uuid as uuid_module

from roost.store.errors import ConditionFailed, StoreUnavailable
from roost.store.ports import ShardCheckpoint, checkpoint_key


class MemoryCheckpointStore:
    """Checkpoints by (mapping, shard); frozen dataclasses, so reads need no copies."""

    def __init__(self) -> None:
        self._checkpoints: dict[tuple[str, str], ShardCheckpoint] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("store is closed")

    def _current(self, mapping_uuid: str, shard_id: str, expected: str) -> ShardCheckpoint:
        current = self._checkpoints.get((mapping_uuid, shard_id))
        if current is None or current.revision != expected:
            raise ConditionFailed(checkpoint_key(mapping_uuid, shard_id))
        return current

    def _write(self, checkpoint: ShardCheckpoint) -> ShardCheckpoint:
        written = dataclasses.replace(checkpoint, revision=uuid_module.uuid4().hex)
        self._checkpoints[(checkpoint.mapping_uuid, checkpoint.shard_id)] = written
        return written

    async def get(self, mapping_uuid: str, shard_id: str) -> ShardCheckpoint | None:
        self._check_open()
        return self._checkpoints.get((mapping_uuid, shard_id))

    async def list(self, mapping_uuid: str) -> list[ShardCheckpoint]:
        self._check_open()
        return [c for (uuid, _), c in sorted(self._checkpoints.items()) if uuid == mapping_uuid]

    async def claim(self, mapping_uuid: str, shard_id: str, owner: str) -> ShardCheckpoint:
        self._check_open()
        current = self._checkpoints.get((mapping_uuid, shard_id))
        if current is None:
            current = ShardCheckpoint(mapping_uuid, shard_id, None, False, None, "")
        return self._write(dataclasses.replace(current, owner=owner))

    async def advance(
        self, mapping_uuid: str, shard_id: str, position: str, *, expected_revision: str
    ) -> str:
        self._check_open()
        current = self._current(mapping_uuid, shard_id, expected_revision)
        if current.closed:
            raise ConditionFailed(checkpoint_key(mapping_uuid, shard_id))
        return self._write(dataclasses.replace(current, position=position)).revision

    async def mark_closed(self, mapping_uuid: str, shard_id: str, *, expected_revision: str) -> str:
        self._check_open()
        current = self._current(mapping_uuid, shard_id, expected_revision)
        return self._write(dataclasses.replace(current, closed=True)).revision

    async def delete_mapping(self, mapping_uuid: str) -> int:
        self._check_open()
        keys = [key for key in self._checkpoints if key[0] == mapping_uuid]
        for key in keys:
            del self._checkpoints[key]
        return len(keys)

    async def close(self) -> None:
        self._closed = True
