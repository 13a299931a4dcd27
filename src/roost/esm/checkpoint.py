"""The checkpoint manager: a record is committed only once it is really done.

Done means its batch's invoke succeeded (for a partial batch response: it was
not named), or it matched no filter and is dropped without an invoke. For a
queue, committing deletes the message; for a stream it will advance the
checkpoint. Nothing else commits a record, so a crash at any point sends the
record through again rather than losing it (at-least-once).

Before committing it asks whether the poller still holds the mapping's lease:
a poller that lost its lease (taken over after a stall, or expired in a store
outage) leaves the records to the source rather than racing the new holder.
A commit that fails is retried a few times; if it still fails, the records
come back through the source and run again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from roost.esm.connector import SourceConnector, SourceRecord

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 3
COMMIT_RETRY_DELAY_S = 0.2


class CheckpointManager:
    """Commits records through a connector, while ``holds()`` says the lease is held."""

    def __init__(
        self,
        connector: SourceConnector,
        holds: Callable[[], bool],
        *,
        attempts: int = COMMIT_ATTEMPTS,
        retry_delay_s: float = COMMIT_RETRY_DELAY_S,
    ) -> None:
        self._connector = connector
        self._holds = holds
        self._attempts = attempts
        self._retry_delay_s = retry_delay_s
        self.committed = 0

    async def commit(self, records: Sequence[SourceRecord]) -> bool:
        """Commit ``records`` (succeeded, or filtered out); whether they were committed."""
        if not records:
            return True
        if not self._holds():
            log.warning("lease lost: %d records left to come back from the source", len(records))
            return False
        for attempt in range(1, self._attempts + 1):
            try:
                await self._connector.commit(records)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("commit of %d records failed (%s)", len(records), error)
                if attempt < self._attempts:
                    await asyncio.sleep(self._retry_delay_s * attempt)
                continue
            self.committed += len(records)
            return True
        return False

    async def release(self, records: Sequence[SourceRecord], delay_s: float = 0.0) -> None:
        """Hand records that were never invoked back to the source (the loop is stopping)."""
        if not records:
            return
        try:
            await self._connector.release(records, delay_s)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # Harmless: they come back when their visibility timeout runs out.
            log.info("releasing %d records failed (%s)", len(records), error)
