"""An ``EventSourceMappingStore`` held in a dict; nothing survives the process."""

from __future__ import annotations

import json
import uuid as uuid_module

from roost.store.errors import ConditionFailed, DuplicateMapping, StoreUnavailable
from roost.store.ports import MappingRecord


class MemoryMappingStore:
    """Records by UUID; the uniqueness rule is checked by a scan (tests hold few)."""

    def __init__(self) -> None:
        self._records: dict[str, MappingRecord] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("store is closed")

    @staticmethod
    def _copy(record: MappingRecord, revision: str | None = None) -> MappingRecord:
        # A fresh document each time, as a real store hands out: callers mutating
        # what they read or wrote must not change what is stored.
        return MappingRecord(
            record.uuid,
            record.account_id,
            record.function_arn,
            record.source_key,
            json.loads(json.dumps(dict(record.document))),
            record.revision if revision is None else revision,
        )

    async def put(self, record: MappingRecord, *, expected_revision: str | None = None) -> str:
        self._check_open()
        current = self._records.get(record.uuid)
        if expected_revision is None and current is not None:
            raise ConditionFailed(record.uuid)
        if expected_revision is not None and (
            current is None or current.revision != expected_revision
        ):
            raise ConditionFailed(record.uuid)
        for other in self._records.values():
            if (
                other.uuid != record.uuid
                and other.account_id == record.account_id
                and other.function_arn == record.function_arn
                and other.source_key == record.source_key
            ):
                raise DuplicateMapping(record.uuid, other.uuid)
        revision = uuid_module.uuid4().hex
        self._records[record.uuid] = self._copy(record, revision)
        return revision

    async def get(self, uuid: str) -> MappingRecord | None:
        self._check_open()
        record = self._records.get(uuid)
        return None if record is None else self._copy(record)

    async def list(
        self,
        *,
        account_id: str | None = None,
        function_arn: str | None = None,
        source_key: str | None = None,
        start_after: str | None = None,
        limit: int | None = None,
    ) -> list[MappingRecord]:
        self._check_open()
        found: list[MappingRecord] = []
        for key in sorted(self._records):
            if limit is not None and len(found) >= limit:
                break
            record = self._records[key]
            if (
                (start_after is None or key > start_after)
                and (account_id is None or record.account_id == account_id)
                and (function_arn is None or record.function_arn == function_arn)
                and (source_key is None or record.source_key == source_key)
            ):
                found.append(self._copy(record))
        return found

    async def delete(self, uuid: str, *, expected_revision: str | None = None) -> bool:
        self._check_open()
        current = self._records.get(uuid)
        if expected_revision is not None and (
            current is None or current.revision != expected_revision
        ):
            raise ConditionFailed(uuid)
        return self._records.pop(uuid, None) is not None

    async def close(self) -> None:
        self._closed = True
