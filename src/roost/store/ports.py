"""Protocols of the store port.

``ConfigStore`` is the function-versions table of the talk: small JSON documents
under string keys, each with a revision that changes on every write, conditional
writes for optimistic concurrency and atomic multi-key batches. Repositories in
the domain packages (functions, accounts, ...) own the key layout and the mapping
between documents and dataclasses, so adapters stay small.

``CodeStore`` keeps deployment packages content-addressed by SHA-256, shared
between every version that uses the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Document = Mapping[str, Any]


@dataclass(frozen=True)
class Item:
    """A stored document with its key and current revision."""

    key: str
    value: Document
    revision: str


@dataclass(frozen=True)
class Put:
    """Write ``value`` at ``key``.

    ``if_revision`` makes the write conditional on the current revision,
    ``if_absent`` on the key not existing. Both unset: unconditional.
    """

    key: str
    value: Document
    if_revision: str | None = None
    if_absent: bool = False


@dataclass(frozen=True)
class Delete:
    """Remove ``key``; with ``if_revision``, only while it has that revision.

    Deleting a missing key without a condition is not an error.
    """

    key: str
    if_revision: str | None = None
    must_exist: bool = False


@dataclass(frozen=True)
class DeletePrefix:
    """Remove every key that starts with ``prefix`` (a cascade)."""

    prefix: str


Write = Put | Delete | DeletePrefix


@dataclass(frozen=True)
class CommitResult:
    """Revisions given to the keys a batch wrote."""

    revisions: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class ConfigStore(Protocol):
    """Durable key/document store with conditional, atomic batches."""

    async def get(self, key: str) -> Item | None:
        """Return the item at ``key``, or None. Safe to cancel."""

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[Item]:
        """Items whose key starts with ``prefix``, in key order, after ``start_after``."""

    async def commit(self, writes: Sequence[Write]) -> CommitResult:
        """Apply every write or none; durable before returning.

        Raises ``ConditionFailed`` naming the first key whose condition did not
        hold. Cancelling the caller does not cancel a commit already started.
        """

    async def close(self) -> None:
        """Release connections; later calls raise ``StoreUnavailable``."""


@dataclass(frozen=True)
class BlobRef:
    """Where a code blob is: its hex SHA-256 digest and size in bytes."""

    sha256_hex: str
    size_bytes: int


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob and when it was last written or re-put (Unix seconds)."""

    sha256_hex: str
    size_bytes: int
    touched_at_s: float


@runtime_checkable
class CodeStore(Protocol):
    """Content-addressed store of deployment packages (zip files)."""

    async def put(self, data: bytes) -> BlobRef:
        """Store ``data`` (idempotent by content) durably and return its reference.

        Putting bytes already stored refreshes the blob's ``touched_at_s``.
        """

    async def get(self, sha256_hex: str) -> bytes:
        """Return the blob's bytes; raises ``BlobNotFound``."""

    async def exists(self, sha256_hex: str) -> bool:
        """Whether the blob is stored."""

    async def delete(self, sha256_hex: str) -> None:
        """Remove the blob if present (callers ensure nothing references it)."""

    async def list(self) -> list[BlobInfo]:
        """Every stored blob, in no particular order."""

    async def delete_stale(self, sha256_hex: str, older_than_s: float) -> bool:
        """Remove the blob only if untouched for ``older_than_s``; whether it was removed.

        The age is checked at removal time, so a blob put again meanwhile survives.
        """
