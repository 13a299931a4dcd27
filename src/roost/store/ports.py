"""Protocols of the store port.

``ConfigStore`` is the function-versions table of the talk: small JSON documents
under string keys, each with a revision that changes on every write, conditional
writes for optimistic concurrency and atomic multi-key batches. Repositories in
the domain packages (functions, accounts, ...) own the key layout and the mapping
between documents and dataclasses, so adapters stay small.

``CodeStore`` keeps deployment packages content-addressed by SHA-256, shared
between every version that uses the same bytes.

``QueueStore`` holds the internal queues of the async data plane (the talk's
internal SQS): named queues of opaque bodies with delays, visibility timeouts,
receive counts and per-receive receipt handles, as SQS standard queues behave.

``EventSourceMappingStore`` keeps event source mappings: one document per
mapping UUID, indexed by account, function and source, with compare-and-set on a
revision and a uniqueness rule (one mapping per source, topic and function).

``CheckpointStore`` keeps the stream pollers' shard checkpoints: per mapping and
shard (or Kafka partition), the position of the last record done, fenced by a
revision so that only the shard's current owner moves it.

``ConcurrencyCounters`` are the counting service's counters: invokes in flight
per function and per account's unreserved pool, each a lease that expires, so
that every node sharing the store enforces one account limit.
"""

from __future__ import annotations

import enum
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

    async def close(self) -> None:
        """Release connections (a no-op where there are none)."""


@dataclass(frozen=True)
class ReceivedMessage:
    """One message handed out by ``QueueStore.receive``.

    ``receipt`` is valid until the message is received again; ``receive_count``
    counts this receive too (1 the first time). Times are Unix epoch milliseconds
    of the store's clock.
    """

    message_id: str
    body: bytes
    receipt: str
    receive_count: int
    sent_at_ms: int
    first_received_at_ms: int


@dataclass(frozen=True)
class QueueDepth:
    """How many messages of a queue are visible, in flight (received, hidden) or delayed."""

    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        """Every message not yet deleted."""
        return self.visible + self.in_flight + self.delayed


class ReceiveOrder(enum.StrEnum):
    """Which visible messages a ``QueueStore.receive`` hands out first."""

    # By when a message became visible (send time plus delay, or the end of its
    # last visibility timeout), ties in send order: the default, SQS-like.
    OLDEST_FIRST = "oldest-first"
    # By send order, latest first, whatever its visibility history: fresh events
    # before a backlog (the talk's FIFO to LIFO); a redelivered message keeps
    # its place by when it was sent.
    NEWEST_FIRST = "newest-first"


@runtime_checkable
class QueueStore(Protocol):
    """Durable named queues with SQS standard-queue semantics (at-least-once).

    A queue exists once a message is sent to it and is gone when it is empty.
    A ``send`` returns only once the message is durable (it survives a crash of
    the process and of the machine). Every other mutating call returns once its
    effect is applied and survives a crash of the process; an adapter may let a
    power loss undo it, because undoing a receive, delete or visibility change
    only brings a message back (at-least-once), never loses one. Cancelling the
    caller abandons the wait, not the write (a cancelled ``send`` may still land).
    """

    async def send(self, queue: str, body: bytes, *, delay_s: float = 0.0) -> str:
        """Enqueue ``body``, hidden for ``delay_s`` seconds; its message id once durable."""

    async def send_batch(
        self, queue: str, bodies: Sequence[bytes], *, delay_s: float = 0.0
    ) -> list[str]:
        """Enqueue every body atomically (all or none); their ids in order, once durable."""

    async def receive(
        self,
        queue: str,
        *,
        max_messages: int = 1,
        visibility_timeout_s: float = 30.0,
        wait_s: float = 0.0,
        order: ReceiveOrder = ReceiveOrder.OLDEST_FIRST,
    ) -> list[ReceivedMessage]:
        """Up to ``max_messages`` visible messages, oldest first by default.

        "Oldest" is by when a message became visible (its send time plus delay,
        or the end of its last visibility timeout), ties in send order; so
        without delays and redeliveries the order is the send order. With
        ``order=NEWEST_FIRST`` the latest sent visible messages come first.
        Either order costs O(log n) per message in a deep queue (newest-first
        also steps over the hidden messages sent after the newest visible one).

        Each is hidden for ``visibility_timeout_s``, its receive count goes up by
        one and it gets a new receipt (older receipts stop working). With
        ``wait_s`` > 0 this is a long poll: it returns as soon as a message is
        available, or an empty list after ``wait_s`` seconds. Safe to cancel
        while waiting; a receive already committed is lost to the canceller and
        comes back after its visibility timeout.
        """

    async def delete(self, queue: str, receipt: str) -> bool:
        """Remove the message; False if ``receipt`` is stale or unknown. Idempotent."""

    async def change_visibility(self, queue: str, receipt: str, timeout_s: float) -> bool:
        """Hide the message for ``timeout_s`` from now (0: visible at once); False if stale."""

    async def depth(self, queue: str) -> QueueDepth:
        """Counts of the queue's messages by state, right now."""

    async def oldest_age_s(self, queue: str) -> float | None:
        """Seconds since the oldest undeleted message was sent; None for an empty queue."""

    async def queues(self) -> list[str]:
        """Names of the queues holding at least one message, sorted."""

    async def close(self) -> None:
        """Finish the writes already accepted, then release resources.

        Later calls raise ``StoreUnavailable``; pending long polls end with it.
        """


@dataclass(frozen=True)
class MappingRecord:
    """A stored event source mapping: its index columns, its document and revision.

    ``source_key`` is the source's identity (its ARN, or a Kafka cluster and
    topic); no two records of one account share ``function_arn`` and
    ``source_key``. ``revision`` is set by the store (empty on a record to write).
    """

    uuid: str
    account_id: str
    function_arn: str
    source_key: str
    document: Document
    revision: str = ""


@runtime_checkable
class EventSourceMappingStore(Protocol):
    """Durable event source mappings, keyed by UUID, with compare-and-set writes."""

    async def put(self, record: MappingRecord, *, expected_revision: str | None = None) -> str:
        """Write ``record``; its new revision once durable.

        ``expected_revision=None`` creates: ``ConditionFailed`` if the UUID exists.
        Otherwise the record must exist with that revision (``ConditionFailed``
        if not). Either way ``DuplicateMapping`` if another record of the account
        has the same ``function_arn`` and ``source_key``.
        """

    async def get(self, uuid: str) -> MappingRecord | None:
        """The record with this UUID, or None. Safe to cancel."""

    async def list(
        self,
        *,
        account_id: str | None = None,
        function_arn: str | None = None,
        source_key: str | None = None,
        start_after: str | None = None,
        limit: int | None = None,
    ) -> list[MappingRecord]:
        """Records matching every filter given, in UUID order, after ``start_after``."""

    async def delete(self, uuid: str, *, expected_revision: str | None = None) -> bool:
        """Remove the record; whether it existed. Idempotent without a revision.

        With ``expected_revision``, ``ConditionFailed`` if the record is missing or
        has another revision (nothing is removed).
        """

    async def close(self) -> None:
        """Release resources; later calls raise ``StoreUnavailable``."""


@dataclass(frozen=True)
class ShardCheckpoint:
    """How far a mapping got in one shard (a Kinesis or DynamoDB shard, a Kafka partition).

    ``position`` is the sequence number (or Kafka offset, as text) of the last
    record done, None while nothing is; it is opaque: stores keep it as text and
    never compare positions. ``closed``: the shard was read to its end after a
    reshard, so its children may start. ``owner`` is the poller that last
    claimed the shard. ``revision`` changes on every write; a write expecting an
    older one fails, which is how a claim fences the shard's previous owner.
    """

    mapping_uuid: str
    shard_id: str
    position: str | None
    closed: bool
    owner: str | None
    revision: str


def checkpoint_key(mapping_uuid: str, shard_id: str) -> str:
    """How ``ConditionFailed`` names a checkpoint, the same in every adapter."""
    return f"{mapping_uuid}/{shard_id}"


@runtime_checkable
class CheckpointStore(Protocol):
    """Durable shard checkpoints of stream mappings, with compare-and-set writes.

    Every write returns only once it is durable (it survives a crash of the
    process and of the machine): a checkpoint acknowledged is never undone, so a
    restarted or moved poller never skips records. Cancelling the caller
    abandons the wait, not the write.
    """

    async def get(self, mapping_uuid: str, shard_id: str) -> ShardCheckpoint | None:
        """The shard's checkpoint, or None if the mapping never claimed it. Safe to cancel."""

    async def list(self, mapping_uuid: str) -> list[ShardCheckpoint]:
        """Every checkpoint of the mapping (open and closed shards), in shard id order."""

    async def claim(self, mapping_uuid: str, shard_id: str, owner: str) -> ShardCheckpoint:
        """Record ``owner`` as the shard's owner, creating the checkpoint (no position) if new.

        Unconditional (the lease decided who owns the shard) and gives a new
        revision, so the previous owner's next ``advance`` fails. Returns the
        checkpoint as written; position and ``closed`` are kept.
        """

    async def advance(
        self, mapping_uuid: str, shard_id: str, position: str, *, expected_revision: str
    ) -> str:
        """Set the shard's position; its new revision once durable.

        ``ConditionFailed`` (nothing written) if the checkpoint is missing, has
        another revision (someone claimed it since) or is closed.
        """

    async def mark_closed(self, mapping_uuid: str, shard_id: str, *, expected_revision: str) -> str:
        """Mark the shard fully processed, keeping its position; its new revision once durable.

        ``ConditionFailed`` if the checkpoint is missing or has another revision.
        Idempotent for the owner: closing a closed shard at its revision succeeds.
        """

    async def delete_mapping(self, mapping_uuid: str) -> int:
        """Remove every checkpoint of the mapping; how many there were. Idempotent."""

    async def close(self) -> None:
        """Release resources; later calls raise ``StoreUnavailable``."""


@dataclass(frozen=True)
class CounterLease:
    """One invoke counted in by ``ConcurrencyCounters.take``; give it back once.

    ``reserved``: it was counted against the function's reserved concurrency
    only (not the account's unreserved pool).
    """

    lease_id: str
    account_id: str
    function_name: str
    reserved: bool


@runtime_checkable
class ConcurrencyCounters(Protocol):
    """Concurrency in flight per function and per account, checked and counted atomically.

    A lease counts until it is given back or, if its holder died without giving
    it back, until ``hold_s`` after it was taken: an adapter shared by several
    processes must not let a crashed node keep its slots for ever. An in-process
    adapter may ignore ``hold_s`` (its counts die with the process).
    """

    async def take(
        self,
        account_id: str,
        function_name: str,
        *,
        reserved: int | None,
        unreserved_cap: int,
        hold_s: float,
    ) -> CounterLease | None:
        """Count one invoke in, or None when the limit that applies is reached.

        With ``reserved`` set, the function's in-flight count must stay within
        it; otherwise the account's unreserved in-flight count must stay within
        ``unreserved_cap`` (and the function's count goes up too).
        """

    async def give_back(self, lease: CounterLease) -> None:
        """Count the invoke out (idempotent: a lease given back twice counts once)."""

    async def in_use(self, account_id: str, function_name: str) -> int:
        """The function's invokes counted right now, by every holder."""

    async def close(self) -> None:
        """Release resources; later calls raise ``StoreUnavailable``."""
