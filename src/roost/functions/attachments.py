"""Per-qualifier documents attached to a function: policies, invoke and provisioning configs.

Keys are ``att/{kind}/{account}/{function}/{qualifier}``; they are removed with the
function, and with the version or alias they qualify.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Protocol

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


class EventInvokeConfigSource(Protocol):
    """Where the async plane reads a qualifier's EventInvokeConfig (retries, destinations)."""

    async def event_invoke_config(
        self, account_id: str, function: str, qualifier: str
    ) -> Mapping[str, Any] | None:
        """The stored document of ``qualifier`` (``$LATEST``, a version or an alias), or None."""


class StoredEventInvokeConfigs:
    """``EventInvokeConfigSource`` reading the store each time (tests, tools); the
    node uses the L1 function cache instead, which reads it once per function."""

    def __init__(self, attachments: AttachmentRepository) -> None:
        self._attachments = attachments

    async def event_invoke_config(
        self, account_id: str, function: str, qualifier: str
    ) -> Mapping[str, Any] | None:
        """The document, read now."""
        item = await self._attachments.get(
            AttachmentKind.EVENT_INVOKE_CONFIG, account_id, function, qualifier
        )
        return item.value if item is not None else None
