"""The error handler: what becomes of each record of a batch after its invoke.

Queues (AWS's documented SQS behaviour):

- success: every record is committed (deleted);
- partial batch response: the records it names stay in the queue, the rest
  are committed;
- function error (or an invalid partial response): nothing is committed; the
  records come back when the queue's visibility timeout runs out, and the
  queue's redrive policy moves them to its dead-letter queue after
  ``maxReceiveCount`` receives;
- throttle or system error (the function could not run): the invoke is retried
  with backoff while the records are still hidden from other consumers (before
  their visibility timeout), then they are left to come back like a failure.

Ordered sources (SQS FIFO): once a record of a group fails, every later record
of that group in the batch fails with it, so a group is never processed out of
order. The first failed record of each group stays hidden until the queue's
visibility timeout (and counts towards its redrive policy); the group's later
records are handed back at once (``release``): the queue keeps the group
blocked behind its hidden record and delivers them after it, in order. Other
groups go on meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from roost.esm.connector import SourceRecord
from roost.esm.orchestrator import BatchOutcome, BatchVerdict

FIRST_RETRY_DELAY_S = 0.2
MAX_RETRY_DELAY_S = 5.0
# A retry must start at least this long before the records' visibility runs out.
VISIBILITY_MARGIN_S = 1.0
_RETRIED_IN_PLACE = frozenset({BatchVerdict.THROTTLED, BatchVerdict.SYSTEM_ERROR})


@dataclass(frozen=True)
class Disposition:
    """Where each record of a batch goes next.

    ``commit``: done (delete, checkpoint past). ``retry``: invoke again after
    ``retry_delay_s`` while still hidden. ``leave``: back to the source, which
    delivers them again after their visibility timeout. ``release``: handed
    back now (an ordered group's records behind its failed one).
    """

    commit: tuple[SourceRecord, ...] = ()
    retry: tuple[SourceRecord, ...] = ()
    leave: tuple[SourceRecord, ...] = ()
    release: tuple[SourceRecord, ...] = ()
    retry_delay_s: float = 0.0


def failed_in_order(batch: Sequence[SourceRecord], failed_ids: frozenset[str]) -> frozenset[str]:
    """``failed_ids`` widened so a group's records after its first failure fail too."""
    blocked: set[str | None] = set()
    failed: set[str] = set()
    for record in batch:
        if record.record_id in failed_ids or record.group in blocked:
            failed.add(record.record_id)
            blocked.add(record.group)
    return frozenset(failed)


def heads_of_groups(
    records: Sequence[SourceRecord],
) -> tuple[tuple[SourceRecord, ...], tuple[SourceRecord, ...]]:
    """``(first record of each group, the rest)``, each in batch order."""
    seen: set[str | None] = set()
    heads: list[SourceRecord] = []
    rest: list[SourceRecord] = []
    for record in records:
        (rest if record.group in seen else heads).append(record)
        seen.add(record.group)
    return tuple(heads), tuple(rest)


class ErrorHandler:
    """Decides the ``Disposition`` of a batch from its ``BatchOutcome``."""

    def __init__(
        self,
        first_retry_delay_s: float = FIRST_RETRY_DELAY_S,
        max_retry_delay_s: float = MAX_RETRY_DELAY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._first_delay_s = first_retry_delay_s
        self._max_delay_s = max_retry_delay_s
        self._clock = clock

    def retry_delay_s(self, attempt: int) -> float:
        """The backoff before retry number ``attempt`` (1, 2, ...): doubling, capped."""
        return min(self._max_delay_s, self._first_delay_s * 2.0 ** max(0, attempt - 1))

    def dispose(
        self, batch: Sequence[SourceRecord], outcome: BatchOutcome, *, ordered: bool, attempt: int
    ) -> Disposition:
        """What to do with ``batch`` after invoke number ``attempt`` gave ``outcome``."""
        failed_ids = outcome.failed_ids
        if ordered and failed_ids:
            failed_ids = failed_in_order(batch, failed_ids)
        commit = tuple(r for r in batch if r.record_id not in failed_ids)
        failed = tuple(r for r in batch if r.record_id in failed_ids)
        if not failed:
            return Disposition(commit=commit)
        if outcome.verdict in _RETRIED_IN_PLACE:
            delay_s = self.retry_delay_s(attempt)
            if self._still_hidden(failed, delay_s):
                return Disposition(commit=commit, retry=failed, retry_delay_s=delay_s)
        if not ordered:
            return Disposition(commit=commit, leave=failed)
        leave, release = heads_of_groups(failed)
        return Disposition(commit=commit, leave=leave, release=release)

    def _still_hidden(self, records: Sequence[SourceRecord], delay_s: float) -> bool:
        deadlines = [r.visible_until_s for r in records if r.visible_until_s is not None]
        if not deadlines:
            return True  # a stream: nobody else reads these records meanwhile
        return self._clock() + delay_s + VISIBILITY_MARGIN_S < min(deadlines)
