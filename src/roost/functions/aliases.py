"""Aliases: named pointers to a version, optionally splitting traffic with a second."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from roost.functions.model import new_revision_id
from roost.store.ports import ConfigStore, Delete, Put


def alias_key(account_id: str, function_name: str, alias: str) -> str:
    """Key of an alias document."""
    return f"alias/{account_id}/{function_name}/{alias}"


@dataclass(frozen=True)
class Alias:
    """An alias of a function."""

    name: str
    function_name: str
    function_version: str
    description: str = ""
    routing_weights: Mapping[str, float] = field(default_factory=dict)
    revision_id: str = field(default_factory=new_revision_id)

    def to_document(self) -> dict[str, Any]:
        """The stored document."""
        return {
            "name": self.name,
            "function_name": self.function_name,
            "function_version": self.function_version,
            "description": self.description,
            "routing_weights": dict(self.routing_weights),
            "revision_id": self.revision_id,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Alias:
        """Inverse of ``to_document``."""
        return cls(**{**document, "routing_weights": dict(document["routing_weights"])})

    def revised(self, **changes: Any) -> Alias:
        """A copy with ``changes`` and a new ``RevisionId``."""
        return replace(self, **changes, revision_id=new_revision_id())

    def versions(self) -> set[str]:
        """Every version this alias can route to."""
        return {self.function_version, *self.routing_weights}


class AliasRepository:
    """Aliases of every function, keyed per account and function."""

    def __init__(self, store: ConfigStore) -> None:
        self._store = store

    async def get(self, account_id: str, function_name: str, alias: str) -> Alias | None:
        """The alias, or None."""
        item = await self._store.get(alias_key(account_id, function_name, alias))
        return Alias.from_document(item.value) if item else None

    async def list(self, account_id: str, function_name: str) -> list[Alias]:
        """Aliases of a function in name order."""
        items = await self._store.list(f"alias/{account_id}/{function_name}/")
        return [Alias.from_document(i.value) for i in items]

    def put(self, account_id: str, alias: Alias, *, create: bool) -> Put:
        """The write that stores ``alias`` (fails on commit if ``create`` and it exists)."""
        key = alias_key(account_id, alias.function_name, alias.name)
        return Put(key, alias.to_document(), if_absent=create)

    def delete(self, account_id: str, function_name: str, alias: str) -> Delete:
        """The write that removes an alias."""
        return Delete(alias_key(account_id, function_name, alias))
