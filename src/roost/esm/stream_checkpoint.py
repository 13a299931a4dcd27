"""The stream checkpoint manager: a shard's checkpoint moves only past records really done.

Done means the batch's invoke succeeded, or the batch was given up and sent to
the mapping's ``OnFailure`` destination, or its records matched no filter. The
checkpoint then moves to the last record of the batch, but only once every
batch read before it is done too: with ``ParallelizationFactor`` above 1 a
later batch can finish first, and a checkpoint past an unfinished batch would
lose it in a crash. A partly done batch (a partial batch response, the good
half of a bisected batch) moves it to the last record done so far.

A poller claims the shard's checkpoint when it takes the shard; the claim gives
the checkpoint a new revision, and every advance is a compare-and-set on the
revision it last wrote. So a previous owner still running (stalled, then taken
over) cannot move it any more: its write fails with ``ConditionFailed`` and the
manager stops for good. Before each write it also asks ``holds()`` whether the
poller still holds the shard's lease, and writes nothing if not. A write that
fails for another reason is retried a few times; the position stays pending and
the next completed batch tries again, so a failed write only means records run
again after a crash (at-least-once), never that one is skipped.

This is the stream counterpart of ``checkpoint.CheckpointManager`` (which
deletes queue messages); positions are opaque and never compared: the order
is the order in which batches were read (``begin``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from roost.store.errors import ConditionFailed
from roost.store.ports import CheckpointStore, ShardCheckpoint

log = logging.getLogger(__name__)

ADVANCE_ATTEMPTS = 3
ADVANCE_RETRY_DELAY_S = 0.2


@dataclass
class _Batch:
    """A batch read from the shard and not yet done."""

    ticket: int
    last_position: str
    done_through: str | None = None
    done: bool = False


class StreamCheckpointManager:
    """Advances one shard's checkpoint for its current owner.

    ``claim()`` first; then ``begin()`` for each batch in the order it was read,
    and ``complete()`` (or ``progress()``) as batches finish, in any order;
    ``finish()`` once the shard was read to its end after a reshard.
    """

    def __init__(
        self,
        store: CheckpointStore,
        mapping_uuid: str,
        shard_id: str,
        owner: str,
        holds: Callable[[], bool],
        *,
        attempts: int = ADVANCE_ATTEMPTS,
        retry_delay_s: float = ADVANCE_RETRY_DELAY_S,
    ) -> None:
        self._store = store
        self._uuid = mapping_uuid
        self._shard = shard_id
        self._owner = owner
        self._holds = holds
        self._attempts = attempts
        self._retry_delay_s = retry_delay_s
        self._revision: str | None = None
        self._pending: deque[_Batch] = deque()
        self._next_ticket = 0
        self._lock = asyncio.Lock()
        self.position: str | None = None  # durable in the store
        self.target: str | None = None  # every record up to here is done
        self.fenced = False
        self.closed = False
        # Called once, when a refused write shows that another owner claimed the
        # checkpoint (the shard worker stops its lanes then, not at its next read).
        self.on_fenced: Callable[[], None] | None = None

    async def claim(self) -> ShardCheckpoint:
        """Take the shard's checkpoint for this owner; it says where to resume."""
        checkpoint = await self._store.claim(self._uuid, self._shard, self._owner)
        self._revision = checkpoint.revision
        self.position = self.target = checkpoint.position
        self.closed = checkpoint.closed
        return checkpoint

    async def pin_start(self, position: str) -> bool:
        """Store ``position`` (a pinned start, see ``roost.esm.positions``) while
        nothing is done yet, so that a restart reads from there again; False if it
        could not be written (the next owner then starts over from the setting)."""
        if self.position is not None or self.target is not None:
            return True

        async def pin(revision: str) -> str:
            new_revision = await self._store.advance(
                self._uuid, self._shard, position, expected_revision=revision
            )
            self.position = position
            return new_revision

        return await self._write(pin)

    def begin(self, last_position: str) -> int:
        """Register a batch, in read order, ending at ``last_position``; its ticket."""
        ticket = self._next_ticket
        self._next_ticket += 1
        self._pending.append(_Batch(ticket, last_position))
        return ticket

    @property
    def in_flight(self) -> int:
        """Batches begun and not yet complete."""
        return len(self._pending)

    async def complete(self, ticket: int) -> bool:
        """The batch is done (succeeded, sent to OnFailure or filtered out).

        Moves the checkpoint as far as every earlier batch is done too, durably
        before returning. False if it could not be written (lease lost, fenced,
        store failing); the position then stays pending for the next call.
        """
        self._batch(ticket).done = True
        self._settle()
        return await self._flush()

    def mark_done(self, ticket: int) -> None:
        """The batch is done; the position moves in memory, ``flush`` writes it."""
        self._batch(ticket).done = True
        self._settle()

    async def progress(self, ticket: int, through: str) -> bool:
        """The batch's records up to ``through`` are done; the rest will be retried."""
        self._batch(ticket).done_through = through
        self._settle()
        return await self._flush()

    async def flush(self) -> bool:
        """Write the position done so far if an earlier write left it pending."""
        return await self._flush()

    async def finish(self) -> bool:
        """Mark the shard closed (read to its end), so its children may start.

        Only once every batch begun is complete and written; False if the
        checkpoint could not be closed (lease lost, fenced, store failing).
        """
        if self._pending:
            raise RuntimeError(f"shard {self._shard}: {len(self._pending)} batches not complete")
        if not await self._flush():
            return False
        if await self._write(self._close):
            self.closed = True
        return self.closed

    def _batch(self, ticket: int) -> _Batch:
        for batch in self._pending:
            if batch.ticket == ticket:
                return batch
        raise KeyError(f"shard {self._shard}: no batch with ticket {ticket} in flight")

    def _settle(self) -> None:
        """Move ``target`` past the done batches at the head, then into a partly done one."""
        while self._pending and self._pending[0].done:
            self.target = self._pending.popleft().last_position
        if self._pending and self._pending[0].done_through is not None:
            self.target = self._pending[0].done_through

    async def _flush(self) -> bool:
        if self.target is None or self.target == self.position:
            return not self.fenced
        return await self._write(self._advance)

    async def _advance(self, revision: str) -> str:
        target = self.target
        if target is None or target == self.position:
            return revision  # a concurrent call already wrote it
        new_revision = await self._store.advance(
            self._uuid, self._shard, target, expected_revision=revision
        )
        self.position = target
        return new_revision

    async def _close(self, revision: str) -> str:
        return await self._store.mark_closed(self._uuid, self._shard, expected_revision=revision)

    async def _write(self, write: Callable[[str], Awaitable[str]]) -> bool:
        """Run one compare-and-set write as the owner, one at a time, with retries."""
        async with self._lock:
            if self._revision is None:
                raise RuntimeError(f"shard {self._shard}: claim() the checkpoint first")
            if self.fenced:
                return False
            if not self._holds():
                log.warning(
                    "shard %s: lease lost, checkpoint left at %s", self._shard, self.position
                )
                return False
            for attempt in range(1, self._attempts + 1):
                try:
                    self._revision = await write(self._revision)
                    return True
                except asyncio.CancelledError:
                    raise
                except ConditionFailed:
                    if not await self._still_ours():
                        return False
                except Exception as error:
                    log.warning("shard %s: checkpoint write failed (%s)", self._shard, error)
                if attempt < self._attempts:
                    await asyncio.sleep(self._retry_delay_s * attempt)
            return False

    async def _still_ours(self) -> bool:
        """After a refused write: adopt our own revision, or stop for good.

        A write whose caller was cancelled (or whose outcome a remote store left
        unknown) may have landed, leaving us a stale revision. The checkpoint
        still naming this owner proves no one claimed it since (owner ids are
        unique per poller incarnation), so carrying on from its revision is safe.
        """
        try:
            current = await self._store.get(self._uuid, self._shard)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("shard %s: checkpoint re-read failed (%s)", self._shard, error)
            return True  # unknown: retry, the next refusal decides
        if current is not None and current.owner == self._owner and current.closed:
            # Our own close landed: nothing moves a closed checkpoint again.
            self._revision, self.closed = current.revision, True
            return False
        if current is None or current.owner != self._owner:
            self.fenced = True
            log.warning("shard %s: checkpoint taken over, this owner stops", self._shard)
            if self.on_fenced is not None:
                self.on_fenced()
            return False
        self._revision = current.revision
        self.position = current.position
        return True
