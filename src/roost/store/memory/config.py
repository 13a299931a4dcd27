"""A ``ConfigStore`` held in a dict; nothing survives the process."""

from __future__ import annotations

import bisect
import json
import uuid
from collections.abc import Sequence

from roost.store.errors import ConditionFailed, StoreUnavailable
from roost.store.ports import CommitResult, Delete, DeletePrefix, Item, Put, Write


class MemoryConfigStore:
    """Keeps items in a dict and a sorted key list; batches are applied atomically."""

    def __init__(self) -> None:
        self._items: dict[str, Item] = {}
        self._keys: list[str] = []
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("store is closed")

    async def get(self, key: str) -> Item | None:
        self._check_open()
        item = self._items.get(key)
        return None if item is None else self._copy(item)

    @staticmethod
    def _copy(item: Item) -> Item:
        # Hand out a fresh document each time, as a real store does: a caller
        # mutating what it read must not change what is stored.
        return Item(item.key, json.loads(json.dumps(item.value)), item.revision)

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[Item]:
        self._check_open()
        index = bisect.bisect_left(self._keys, prefix)
        if start_after is not None:
            # Strictly after start_after, but never before the prefix: a
            # start_after below the prefix must not skip a key equal to it.
            index = max(index, bisect.bisect_right(self._keys, start_after))
        found: list[Item] = []
        for key in self._keys[index:]:
            if not key.startswith(prefix) or (limit is not None and len(found) >= limit):
                break
            found.append(self._copy(self._items[key]))
        return found

    def _check_condition(self, write: Write) -> None:
        if isinstance(write, Put):
            current = self._items.get(write.key)
            if write.if_absent and current is not None:
                raise ConditionFailed(write.key)
            if write.if_revision is not None and (
                current is None or current.revision != write.if_revision
            ):
                raise ConditionFailed(write.key)
        elif isinstance(write, Delete):
            current = self._items.get(write.key)
            if (write.must_exist or write.if_revision is not None) and current is None:
                raise ConditionFailed(write.key)
            if write.if_revision is not None and current and current.revision != write.if_revision:
                raise ConditionFailed(write.key)

    def _remove(self, key: str) -> None:
        if self._items.pop(key, None) is not None:
            del self._keys[bisect.bisect_left(self._keys, key)]

    async def commit(self, writes: Sequence[Write]) -> CommitResult:
        self._check_open()
        # Documents go through JSON like in the durable adapters: a value that
        # they would reject fails here too, before anything is applied, and the
        # store keeps no reference to the caller's (possibly nested) objects.
        documents = {
            index: json.loads(json.dumps(dict(write.value)))
            for index, write in enumerate(writes)
            if isinstance(write, Put)
        }
        for write in writes:
            self._check_condition(write)
        revisions: dict[str, str] = {}
        for index, write in enumerate(writes):
            if isinstance(write, Put):
                if write.key not in self._items:
                    bisect.insort(self._keys, write.key)
                revision = uuid.uuid4().hex
                self._items[write.key] = Item(write.key, documents[index], revision)
                revisions[write.key] = revision
            elif isinstance(write, Delete):
                self._remove(write.key)
            elif isinstance(write, DeletePrefix):
                for key in [k for k in self._keys if k.startswith(write.prefix)]:
                    self._remove(key)
        return CommitResult(revisions)

    async def close(self) -> None:
        self._closed = True
