"""Per-qualifier documents attached to a function: policies, invoke and provisioning configs.

Keys are ``att/{kind}/{account}/{function}/{qualifier}``; they are removed with the
function, and with the version or alias they qualify.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from roost.store.ports import ConfigStore, Delete, Item, Put


class AttachmentKind(enum.StrEnum):
    """What a per-qualifier document holds."""

    POLICY = "policy"
    EVENT_INVOKE_CONFIG = "eic"
    PROVISIONED_CONCURRENCY = "pcc"


def attachment_key(kind: AttachmentKind, account_id: str, function: str, qualifier: str) -> str:
    """Key of one attachment."""
    return f"att/{kind.value}/{account_id}/{function}/{qualifier}"


class AttachmentRepository:
    """Reads attachments and builds the writes that change them."""

    def __init__(self, store: ConfigStore) -> None:
        self._store = store

    async def get(
        self, kind: AttachmentKind, account_id: str, function: str, qualifier: str
    ) -> Item | None:
        """The attachment item (with its revision for a conditional write), or None."""
        return await self._store.get(attachment_key(kind, account_id, function, qualifier))

    async def list(self, kind: AttachmentKind, account_id: str, function: str) -> list[Item]:
        """Every attachment of one kind on a function, by qualifier."""
        return await self._store.list(f"att/{kind.value}/{account_id}/{function}/")

    @staticmethod
    def put(
        kind: AttachmentKind,
        account_id: str,
        function: str,
        qualifier: str,
        document: Mapping[str, Any],
        *,
        if_revision: str | None = None,
        if_absent: bool = False,
    ) -> Put:
        """The write that stores an attachment."""
        key = attachment_key(kind, account_id, function, qualifier)
        return Put(key, document, if_revision=if_revision, if_absent=if_absent)

    @staticmethod
    def delete(
        kind: AttachmentKind,
        account_id: str,
        function: str,
        qualifier: str,
        *,
        if_revision: str | None = None,
    ) -> Delete:
        """The write that removes an attachment (with ``if_revision``, only that revision)."""
        key = attachment_key(kind, account_id, function, qualifier)
        return Delete(key, if_revision=if_revision)
