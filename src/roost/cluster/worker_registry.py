"""``WorkerRegistry``: the worker hosts of a cluster, as documents in the config store.

Each worker host writes one ``WorkerRecord`` under ``cluster/worker/{node_id}``
on every heartbeat: where its internal invoke endpoint is, its zone, its
capacity and load, and how many warm idle environments it holds per function
version, so that a frontend can send an invoke where an environment is warm.
A record is never trusted for its own sake: its ``heartbeat_ms`` says how old
it is, and readers decide what a missed heartbeat means (``zones.py``). A host
that stops cleanly removes its record; a SIGKILLed one leaves it to go stale.

Heartbeat times are Unix milliseconds of the writer's clock, compared with the
reader's: nodes are expected to keep their clocks in sync (NTP), as leases
already require.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from roost.store.malformed import MalformedRecords
from roost.store.ports import ConfigStore, Delete, Put

log = logging.getLogger(__name__)

PREFIX = "cluster/worker/"


def version_id(account_id: str, function: str, version: str, revision: str, network: bool) -> str:
    """How a record names one function version's environments (a ``VersionKey``)."""
    return f"{account_id}/{function}/{version}/{revision}/{'net' if network else 'nonet'}"


@dataclass(frozen=True)
class WorkerRecord:
    """One worker host as it last described itself."""

    node_id: str
    zone: str
    # Base URL of the node's internal invoke endpoint (``http://host:port``).
    url: str
    # Environments it can hold (its cap, or what its memory budget fits).
    slots: int
    # Environments serving an invoke (or starting for one) right now.
    busy: int
    memory_free_mb: int
    heartbeat_ms: int
    started_ms: int
    # Warm idle environments per ``version_id``.
    idle: Mapping[str, int] = field(default_factory=dict)

    @property
    def load(self) -> float:
        """Share of its slots in use (can exceed 1 while over-committed)."""
        return self.busy / max(1, self.slots)

    def to_document(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "node_id": self.node_id,
            "zone": self.zone,
            "url": self.url,
            "slots": self.slots,
            "busy": self.busy,
            "memory_free_mb": self.memory_free_mb,
            "heartbeat_ms": self.heartbeat_ms,
            "started_ms": self.started_ms,
            "idle": dict(self.idle),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> WorkerRecord:
        """Read a stored record back."""
        return cls(
            node_id=str(document["node_id"]),
            zone=str(document["zone"]),
            url=str(document["url"]),
            slots=int(document["slots"]),
            busy=int(document["busy"]),
            memory_free_mb=int(document["memory_free_mb"]),
            heartbeat_ms=int(document["heartbeat_ms"]),
            started_ms=int(document["started_ms"]),
            idle={str(k): int(v) for k, v in dict(document.get("idle", {})).items()},
        )


class WorkerRegistry:
    """Write, list and remove worker records in a ``ConfigStore``."""

    def __init__(self, store: ConfigStore, prefix: str = PREFIX) -> None:
        self._store = store
        self._prefix = prefix
        self._malformed = MalformedRecords(log, "skipping malformed worker record %s: %r")

    async def publish(self, record: WorkerRecord) -> None:
        """Write the host's record (a heartbeat)."""
        await self._store.commit([Put(self._prefix + record.node_id, record.to_document())])

    async def remove(self, node_id: str) -> None:
        """Forget a host (it stopped cleanly, or has been stale for long)."""
        await self._store.commit([Delete(self._prefix + node_id)])

    async def list(self) -> list[WorkerRecord]:
        """Every well-formed record in the store, fresh or stale, in node id order.

        A malformed record (written by a buggy or newer node, or by hand) is
        skipped: it must not hide every other host from the frontends.
        """
        records: list[WorkerRecord] = []
        start_after: str | None = None
        while True:
            items = await self._store.list(self._prefix, start_after=start_after, limit=500)
            for item in items:
                record = self._malformed.read(item.key, WorkerRecord.from_document, item.value)
                if record is not None:
                    records.append(record)
            if len(items) < 500:
                return records
            start_after = items[-1].key
