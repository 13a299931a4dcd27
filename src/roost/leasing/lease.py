"""A lease: a time-bound claim of one owner on a named resource.

Leases are how pollers divide work (async queues, event source mappings) without
a coordinator: whoever holds an unexpired lease on a resource works on it, and
everyone else keeps off. Times are Unix epoch milliseconds of the lease table's
clock, so every node compares expiries on the same scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Lease:
    """``owner`` holds ``resource`` until ``expires_at_ms``.

    ``revision`` is the store revision of the lease document this value was read
    or written as; conditional writes use it so that a stale copy cannot undo a
    newer one. ``renew_count`` counts heartbeats since ``acquired_at_ms``, and
    ``progress_at_ms`` is the last time the holder reported progress on the
    resource (published at each heartbeat; the anti-entropy sweep reads it).
    A ``revoked`` lease was taken from a holder that stopped progressing: it
    cannot be renewed, and is free once it expires.
    """

    resource: str
    owner: str
    expires_at_ms: int
    revision: str
    acquired_at_ms: int
    renew_count: int = 0
    progress_at_ms: int = 0
    revoked: bool = False

    def is_expired(self, now_ms: int) -> bool:
        """Whether anyone may take the lease over at ``now_ms``."""
        return now_ms >= self.expires_at_ms

    def remaining_ms(self, now_ms: int) -> int:
        """Milliseconds left before expiry (0 once expired)."""
        return max(0, self.expires_at_ms - now_ms)

    def to_document(self) -> dict[str, Any]:
        """The stored form; the revision belongs to the store, not the document."""
        return {
            "owner": self.owner,
            "expires_at_ms": self.expires_at_ms,
            "acquired_at_ms": self.acquired_at_ms,
            "renew_count": self.renew_count,
            "progress_at_ms": self.progress_at_ms,
            "revoked": self.revoked,
        }

    @classmethod
    def from_document(cls, resource: str, document: Mapping[str, Any], revision: str) -> Lease:
        """Rebuild a lease read from the store."""
        return cls(
            resource=resource,
            owner=str(document["owner"]),
            expires_at_ms=int(document["expires_at_ms"]),
            revision=revision,
            acquired_at_ms=int(document["acquired_at_ms"]),
            renew_count=int(document.get("renew_count", 0)),
            progress_at_ms=int(document.get("progress_at_ms", document["acquired_at_ms"])),
            revoked=bool(document.get("revoked", False)),
        )
