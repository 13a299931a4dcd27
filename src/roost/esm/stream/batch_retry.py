"""What becomes of a stream batch after its invoke: done, retried, bisected or given up.

AWS's documented behaviour for Kinesis, DynamoDB Streams and Kafka mappings:

- A failed batch blocks its shard (here: its lane, which holds every record of
  its partition keys) and is retried until it succeeds, its retries run out
  (``MaximumRetryAttempts``, -1 = until the records expire) or its records are
  older than ``MaximumRecordAgeInSeconds`` (-1 = until they expire). Records
  expire when the stream stops keeping them (its retention period: 24 hours
  for DynamoDB Streams, 24 hours to a year on Kinesis); they then go to the
  ``OnFailure`` destination (if any) as too old, and the shard moves on.
- Only function errors count as retries. A throttle or a system error (the
  batch never reached the function) is retried with backoff and counts nothing;
  only record age ends it.
- ``BisectBatchOnFunctionError``: a function error splits the batch in two
  halves, tried in order, each with the retries left to the batch; a split
  itself is not a retry. A single record that fails is retried and then given
  up: the talk's example, where the poison record ends in the destination and
  the good ones around it run once.
- ``ReportBatchItemFailures``: the records before the lowest failed sequence
  number are done; the batch is retried from that record (one retry).

Pure decisions, no I/O: the lane that runs the batch carries them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from roost.esm.connector import SourceRecord
from roost.esm.mapping import EventSourceMapping
from roost.esm.orchestrator import BatchOutcome, BatchVerdict
from roost.esm.sources import SourceType
from roost.esm.stream.failure_record import StreamFailureCondition
from roost.esm.stream.record_age import split_expired

KAFKA_RETRIES_WITH_DESTINATION = 10
FIRST_RETRY_DELAY_S = 0.2
MAX_RETRY_DELAY_S = 5.0


@dataclass(frozen=True)
class RetryLimits:
    """A mapping's retry settings, as a stream lane applies them."""

    maximum_retry_attempts: int = -1
    maximum_record_age_s: int = -1
    bisect: bool = False
    # How long the stream keeps a record (None: unknown, or never).
    retention_s: float | None = None
    first_delay_s: float = FIRST_RETRY_DELAY_S
    max_delay_s: float = MAX_RETRY_DELAY_S

    @classmethod
    def of(cls, mapping: EventSourceMapping, retention_s: float | None = None) -> RetryLimits:
        """From the mapping (AWS's defaults for streams where it sets nothing), for a
        stream keeping records ``retention_s``."""
        settings = mapping.settings
        retries = -1 if settings.maximum_retry_attempts is None else settings.maximum_retry_attempts
        age = settings.maximum_record_age_s
        on_failure = (settings.destination_config or {}).get("OnFailure") or {}
        if (
            mapping.source.type is SourceType.KAFKA
            and retries < 0
            and on_failure.get("Destination")
        ):
            # AWS: "infinite retries and an on-failure destination" apply 10 retries.
            retries = KAFKA_RETRIES_WITH_DESTINATION
        return cls(
            maximum_retry_attempts=retries,
            maximum_record_age_s=-1 if age is None else age,
            bisect=bool(settings.bisect_batch_on_function_error),
            retention_s=retention_s,
        )

    @property
    def record_lifetime_s(self) -> float:
        """How old a record of a failed batch may be before it is given up (-1: never):
        the lesser of ``MaximumRecordAgeInSeconds`` and the stream's retention."""
        ages = [float(self.maximum_record_age_s)] if self.maximum_record_age_s >= 0 else []
        if self.retention_s is not None:
            ages.append(self.retention_s)
        return min(ages, default=-1.0)

    def exhausted(self, retries: int) -> bool:
        """Whether a batch that failed ``retries`` times (after its first try) is done for."""
        return self.maximum_retry_attempts >= 0 and retries > self.maximum_retry_attempts

    def delay_s(self, failures: int) -> float:
        """Backoff before the next try after ``failures`` failures in a row."""
        return min(self.max_delay_s, self.first_delay_s * 2.0 ** max(0, failures - 1))


@dataclass(frozen=True)
class Attempt:
    """A batch (or part of one) to invoke, with what its earlier tries cost.

    ``retries`` counts function errors (what ``MaximumRetryAttempts`` bounds);
    ``invokes`` every invoke that reached the function (the failure record's
    ``approximateInvokeCount``); ``failures`` the failed tries in a row (backoff);
    ``last_outcome`` the last invoke that reached the function (the failure
    record's ``responseContext``, also when the records expire before the next).
    """

    records: tuple[SourceRecord, ...]
    retries: int = 0
    invokes: int = 0
    failures: int = 0
    last_outcome: BatchOutcome | None = None


@dataclass(frozen=True)
class GiveUp:
    """Records the lane stops trying: they go to ``OnFailure``, then count as done."""

    records: tuple[SourceRecord, ...]
    condition: StreamFailureCondition
    invokes: int
    outcome: BatchOutcome | None = None


@dataclass(frozen=True)
class Step:
    """What the lane does next: ``done`` records are finished; ``give_up`` goes to
    ``OnFailure``; ``then`` is tried next, in order, after ``delay_s``."""

    done: tuple[SourceRecord, ...] = ()
    give_up: GiveUp | None = None
    then: tuple[Attempt, ...] = ()
    delay_s: float = 0.0


def expire(attempt: Attempt, limits: RetryLimits, now_s: float) -> tuple[Attempt, GiveUp | None]:
    """Before an invoke: take out the records older than ``MaximumRecordAgeInSeconds``,
    and, once the batch has failed, than the stream keeps them (a record read for the
    first time is invoked: the stream trims late, and it is still there)."""
    failed = attempt.retries > 0 or attempt.failures > 0 or attempt.invokes > 0
    lifetime_s = limits.record_lifetime_s if failed else limits.maximum_record_age_s
    expired, fresh = split_expired(attempt.records, lifetime_s, now_s)
    if not expired:
        return attempt, None
    give_up = GiveUp(
        tuple(expired),
        StreamFailureCondition.RECORD_AGE_EXCEEDED,
        attempt.invokes,
        attempt.last_outcome,
    )
    return replace(attempt, records=tuple(fresh)), give_up


def decide(attempt: Attempt, outcome: BatchOutcome, limits: RetryLimits) -> Step:
    """The step after ``attempt`` was invoked and gave ``outcome``."""
    records = attempt.records
    verdict = outcome.verdict
    if verdict is BatchVerdict.SUCCEEDED:
        return Step(done=records)
    if not verdict.ran:
        # Throttled, the function gone, a system error: the records never reached
        # the function; retried until they expire, as AWS does.
        failures = attempt.failures + 1
        return Step(then=(replace(attempt, failures=failures),), delay_s=limits.delay_s(failures))
    invoked = replace(attempt, invokes=attempt.invokes + 1, last_outcome=outcome)
    if verdict is BatchVerdict.PARTIAL:
        return _partial(invoked, outcome, limits)
    if limits.bisect and len(records) > 1:
        half = len(records) // 2
        return Step(
            then=(
                replace(invoked, records=records[:half], failures=0),
                replace(invoked, records=records[half:], failures=0),
            )
        )
    return _retry(invoked, records, (), outcome, limits)


def _partial(attempt: Attempt, outcome: BatchOutcome, limits: RetryLimits) -> Step:
    """``batchItemFailures``: done up to the first failed record, retried from there."""
    first = next(i for i, record in enumerate(attempt.records) if outcome.failed(record))
    return _retry(attempt, attempt.records[first:], attempt.records[:first], outcome, limits)


def _retry(
    attempt: Attempt,
    failed: Sequence[SourceRecord],
    done: tuple[SourceRecord, ...],
    outcome: BatchOutcome,
    limits: RetryLimits,
) -> Step:
    retries = attempt.retries + 1
    if limits.exhausted(retries):
        give_up = GiveUp(
            tuple(failed), StreamFailureCondition.RETRY_ATTEMPTS_EXHAUSTED, attempt.invokes, outcome
        )
        return Step(done=done, give_up=give_up)
    failures = attempt.failures + 1
    again = replace(attempt, records=tuple(failed), retries=retries, failures=failures)
    return Step(done=done, then=(again,), delay_s=limits.delay_s(failures))
