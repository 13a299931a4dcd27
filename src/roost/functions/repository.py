"""The function-versions table: functions, published versions and their key layout.

Keys (one account's functions never share a prefix with another's):

- ``fn/{account}/{name}``: the function record ($LATEST plus function-wide settings)
- ``ver/{account}/{name}/{version:010d}``: an immutable published version
- ``alias/{account}/{name}/{alias}`` and ``att/{kind}/{account}/{name}/{qualifier}``
  belong to ``aliases`` and ``attachments`` but are removed here with the function.
- ``acct/{account}/reserved-concurrency``: every reservation of the account's functions

Writes that must not interleave with another change of the function (alias writes,
version deletes, the activator's completion) are batched with a rewrite of the
function record conditional on its store revision, so any two of them serialise.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from roost.functions.attachments import AttachmentKind
from roost.functions.model import FunctionConfig
from roost.store.ports import ConfigStore, Delete, DeletePrefix, Put, Write


def function_key(account_id: str, name: str) -> str:
    """Key of a function record."""
    return f"fn/{account_id}/{name}"


def version_key(account_id: str, name: str, version: int) -> str:
    """Key of a published version; zero-padded so key order is numeric order."""
    return f"ver/{account_id}/{name}/{version:010d}"


def reservations_key(account_id: str) -> str:
    """Key of the account's reserved-concurrency document."""
    return f"acct/{account_id}/reserved-concurrency"


def cascade_prefixes(account_id: str, name: str) -> list[str]:
    """Prefixes of everything that belongs to a function besides its record."""
    tail = f"{account_id}/{name}/"
    attachments = [f"att/{kind.value}/{tail}" for kind in AttachmentKind]
    return [f"ver/{tail}", f"alias/{tail}", *attachments]


@dataclass(frozen=True)
class FunctionRecord:
    """A function: its $LATEST configuration and function-wide settings."""

    account_id: str
    latest: FunctionConfig
    tags: Mapping[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    last_version: int = 0
    store_revision: str | None = None

    @property
    def name(self) -> str:
        """The function's name."""
        return self.latest.name

    def to_document(self) -> dict[str, Any]:
        """The document stored at ``function_key``."""
        return {
            "account_id": self.account_id,
            "latest": self.latest.to_document(),
            "tags": dict(self.tags),
            "reserved_concurrency": self.reserved_concurrency,
            "last_version": self.last_version,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any], revision: str) -> FunctionRecord:
        """Inverse of ``to_document``, remembering the store revision for CAS."""
        return cls(
            account_id=document["account_id"],
            latest=FunctionConfig.from_document(document["latest"]),
            tags=dict(document.get("tags", {})),
            reserved_concurrency=document.get("reserved_concurrency"),
            last_version=int(document.get("last_version", 0)),
            store_revision=revision,
        )


@dataclass(frozen=True)
class Reservations:
    """Reserved concurrency of every function of an account, kept in one document.

    Changing one function's reservation rewrites this document conditionally, so two
    functions reserving at once cannot both pass the check of what is left unreserved
    on a total that misses the other's reservation. ``FunctionRecord.reserved_concurrency``
    keeps each function's own value, written in the same batch.
    """

    account_id: str
    by_function: Mapping[str, int] = field(default_factory=dict)
    store_revision: str | None = None
    """The document's revision; None while it is not stored yet."""

    def total(self, *, excluding: str | None = None) -> int:
        """Concurrency reserved by the account's functions, but ``excluding``."""
        return sum(n for name, n in self.by_function.items() if name != excluding)

    def with_reservation(self, name: str, reserved: int | None) -> Reservations:
        """A copy where function ``name`` reserves ``reserved`` (None: nothing)."""
        by_function = {k: v for k, v in self.by_function.items() if k != name}
        if reserved is not None:
            by_function[name] = reserved
        return replace(self, by_function=by_function)

    def write(self) -> Put:
        """The write that stores this document if unchanged since it was read."""
        return Put(
            reservations_key(self.account_id),
            {"functions": dict(self.by_function)},
            if_revision=self.store_revision,
            if_absent=self.store_revision is None,
        )


class FunctionRepository:
    """Reads and conditionally writes function records and versions."""

    def __init__(self, store: ConfigStore) -> None:
        self._store = store

    async def get(self, account_id: str, name: str) -> FunctionRecord | None:
        """The function record, or None."""
        item = await self._store.get(function_key(account_id, name))
        return FunctionRecord.from_document(item.value, item.revision) if item else None

    async def list(
        self, account_id: str, *, start_after: str | None = None, limit: int | None = None
    ) -> builtins.list[FunctionRecord]:
        """Functions of an account in name order, after the name ``start_after``."""
        prefix = f"fn/{account_id}/"
        after = prefix + start_after if start_after else None
        items = await self._store.list(prefix, start_after=after, limit=limit)
        return [FunctionRecord.from_document(i.value, i.revision) for i in items]

    async def list_all(self) -> builtins.list[FunctionRecord]:
        """Every function of every account (start-up recovery and sweeps)."""
        items = await self._store.list("fn/")
        return [FunctionRecord.from_document(i.value, i.revision) for i in items]

    async def create(
        self, record: FunctionRecord, versions: Sequence[FunctionConfig] = ()
    ) -> FunctionRecord:
        """Store a new function (and versions published with it) atomically.

        Raises ``ConditionFailed`` when the name is taken.
        """
        key = function_key(record.account_id, record.name)
        # A function re-created under an old name must not inherit leftovers.
        writes: builtins.list[Write] = [
            DeletePrefix(p) for p in cascade_prefixes(record.account_id, record.name)
        ]
        writes.append(Put(key, record.to_document(), if_absent=True))
        writes.extend(self._version_puts(record.account_id, versions))
        result = await self._store.commit(writes)
        return replace(record, store_revision=result.revisions[key])

    async def save(
        self,
        record: FunctionRecord,
        versions: Sequence[FunctionConfig] = (),
        also: Sequence[Write] = (),
    ) -> FunctionRecord:
        """Replace a record read earlier; ``ConditionFailed`` if it changed since."""
        key = function_key(record.account_id, record.name)
        writes: builtins.list[Write] = [
            Put(key, record.to_document(), if_revision=record.store_revision)
        ]
        writes.extend(self._version_puts(record.account_id, versions))
        writes.extend(also)
        result = await self._store.commit(writes)
        return replace(record, store_revision=result.revisions[key])

    async def delete(self, record: FunctionRecord) -> None:
        """Remove a function with its versions, aliases, attachments and reservation.

        Raises ``ConditionFailed`` if the record (or the account's reservations, when
        the function has one) changed since read.
        """
        writes: builtins.list[Write] = [
            DeletePrefix(p) for p in cascade_prefixes(record.account_id, record.name)
        ]
        writes.append(
            Delete(function_key(record.account_id, record.name), if_revision=record.store_revision)
        )
        if record.reserved_concurrency is not None:
            # A reservation is only ever written together with the record, so one the
            # record does not show is not in the document either.
            reservations = await self.get_reservations(record.account_id)
            writes.append(reservations.with_reservation(record.name, None).write())
        await self._store.commit(writes)

    async def get_reservations(self, account_id: str) -> Reservations:
        """The account's reservations document (built from the records if not stored yet)."""
        item = await self._store.get(reservations_key(account_id))
        if item is not None:
            by_function = {str(k): int(v) for k, v in item.value["functions"].items()}
            return Reservations(account_id, by_function, item.revision)
        # Data written before the document existed: the records still say it all.
        records = await self.list(account_id)
        return Reservations(
            account_id,
            {r.name: r.reserved_concurrency for r in records if r.reserved_concurrency is not None},
        )

    async def get_version(self, account_id: str, name: str, version: int) -> FunctionConfig | None:
        """A published version's configuration, or None."""
        item = await self._store.get(version_key(account_id, name, version))
        return FunctionConfig.from_document(item.value) if item else None

    async def list_versions(
        self, account_id: str, name: str, *, after: int | None = None, limit: int | None = None
    ) -> builtins.list[FunctionConfig]:
        """Published versions in ascending order, after version number ``after``."""
        prefix = f"ver/{account_id}/{name}/"
        start = version_key(account_id, name, after) if after is not None else None
        items = await self._store.list(prefix, start_after=start, limit=limit)
        return [FunctionConfig.from_document(i.value) for i in items]

    async def save_version(self, account_id: str, config: FunctionConfig) -> None:
        """Overwrite a published version (only its state fields ever change)."""
        await self._store.commit(self._version_puts(account_id, [config]))

    async def delete_version(self, record: FunctionRecord, version: int) -> FunctionRecord:
        """Remove one published version and its per-qualifier attachments.

        Conditional on the record read earlier (``ConditionFailed`` if it changed), so
        the check that no alias uses the version still holds when it goes.
        """
        tail = f"{record.account_id}/{record.name}/{version}"
        return await self.save(
            record,
            also=[
                Delete(version_key(record.account_id, record.name, version), must_exist=True),
                *(Delete(f"att/{kind.value}/{tail}") for kind in AttachmentKind),
            ],
        )

    @staticmethod
    def _version_puts(account_id: str, versions: Sequence[FunctionConfig]) -> builtins.list[Write]:
        return [
            Put(version_key(account_id, v.name, int(v.version)), v.to_document()) for v in versions
        ]
