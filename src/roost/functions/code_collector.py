"""The code collector: deletes deployment packages that no version references.

Packages are content-addressed and shared, so deleting a function or replacing
its code cannot delete the blob on the spot. A sweep lists the blobs, collects
the digests every function's $LATEST and published versions use, and deletes
the rest once they have been untouched for a grace period; the grace period
covers uploads whose configuration is not committed yet (a re-put refreshes it).
"""

from __future__ import annotations

import asyncio
import logging

from roost.cancellation import cancel_and_wait
from roost.functions.repository import FunctionRepository
from roost.store.ports import CodeStore

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 3600.0
DEFAULT_INTERVAL_S = 3600.0


class CodeCollector:
    """Sweeps unreferenced packages out of the code store, now or periodically."""

    def __init__(
        self,
        functions: FunctionRepository,
        code: CodeStore,
        *,
        grace_s: float = DEFAULT_GRACE_S,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self._functions = functions
        self._code = code
        self._grace_s = grace_s
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def referenced(self) -> set[str]:
        """Digests of every package some function version uses."""
        digests: set[str] = set()
        for record in await self._functions.list_all():
            digests.add(record.latest.code.sha256_hex)
            for version in await self._functions.list_versions(record.account_id, record.name):
                digests.add(version.code.sha256_hex)
        return digests

    async def sweep(self) -> int:
        """Delete unreferenced packages past the grace period; returns how many."""
        blobs = await self._code.list()
        referenced = await self.referenced()
        deleted = 0
        for blob in blobs:
            if blob.sha256_hex not in referenced:
                deleted += await self._code.delete_stale(blob.sha256_hex, self._grace_s)
        if deleted:
            log.info("code collector deleted %d unreferenced packages", deleted)
        return deleted

    def start(self) -> None:
        """Sweep now and then every ``interval_s`` in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("code collector sweep failed; retrying next interval")
            await asyncio.sleep(self._interval_s)

    async def stop(self) -> None:
        """Stop the periodic sweep (a sweep in progress is cancelled safely)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
