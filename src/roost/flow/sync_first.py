"""Sync first: while sync invokes are being served, the async plane keeps to a small share.

Sync and async invokes share a node's CPU: its event loop, and the cores the
functions run on. An async flood (acknowledging events, then running them)
left unbounded queues every sync invoke behind it, so its latency would rise
with another tenant's backlog. The async plane's work is deferrable (its events
wait durably in the queues) and the sync plane's is not, so while the sync
plane is busy, or was within ``quiet_s``, the async plane may hold only
``share_while_sync`` slots of each of its bounds (requests being accepted,
events being run); once the sync plane is quiet, the async plane gets its full
bounds back and drains at full speed. This is the talk's priority of the
latency-sensitive path over the buffered one; the slots it leaves are the
async plane's guaranteed minimum, so a sync load never starves it entirely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol


class PlaneActivity(Protocol):
    """How long a plane has had nothing in flight."""

    def idle_for(self) -> float:
        """Seconds since its last request ended (0 while one is in flight)."""


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class SyncFirstSettings:
    """The async plane's share while sync invokes run, and how long sync counts as busy."""

    share_while_sync: int = field(default_factory=_cores)
    quiet_s: float = 1.0

    def __post_init__(self) -> None:
        if self.share_while_sync < 1:
            raise ValueError(f"share_while_sync must be >= 1, not {self.share_while_sync}")
        if self.quiet_s < 0:
            raise ValueError(f"quiet_s must be >= 0, not {self.quiet_s}")


class SyncFirst:
    """The async plane's bounds, narrowed while the sync plane is busy."""

    def __init__(self, sync: PlaneActivity, settings: SyncFirstSettings) -> None:
        self._sync = sync
        self.settings = settings

    def sync_busy(self) -> bool:
        """Whether sync invokes are being served (or were, within ``quiet_s``)."""
        return self._sync.idle_for() < self.settings.quiet_s

    def limit(self, full: int) -> int:
        """What a bound of ``full`` slots allows the async plane right now."""
        if self.sync_busy():
            return min(full, self.settings.share_while_sync)
        return full
