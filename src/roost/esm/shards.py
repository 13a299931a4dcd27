"""Shards, iterator positions and sequence numbers: what Kinesis and DynamoDB Streams share.

Both services split a stream into shards that are read with shard iterators
(``GetShardIterator`` then ``GetRecords``), and both reshard the same way: a
closed shard has an ``EndingSequenceNumber`` and its children name it as their
``ParentShardId`` (a Kinesis merge names a second one,
``AdjacentParentShardId``). Records of a key move from a parent to its
children, so a child is read only after its parents are finished.

Sequence numbers are decimal strings of varying length (56 digits on Kinesis,
21-40 on DynamoDB Streams, a handful on moto): they are compared as integers,
never as text ("9" sorts after "10" as text).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


def sequence_key(sequence_number: str) -> int:
    """A sequence number as an integer, the only safe way to order two of them."""
    return int(sequence_number)


@dataclass(frozen=True)
class Shard:
    """One shard as ``ListShards`` (Kinesis) or ``DescribeStream`` (DynamoDB) reports it.

    ``ending_sequence_number`` is set once the shard is closed (split, merged,
    or for DynamoDB rolled over): no record is added to it after that.
    """

    shard_id: str
    parent_shard_id: str | None = None
    adjacent_parent_shard_id: str | None = None
    starting_sequence_number: str | None = None
    ending_sequence_number: str | None = None

    @property
    def closed(self) -> bool:
        """Whether the shard takes no more records."""
        return self.ending_sequence_number is not None

    @property
    def parents(self) -> tuple[str, ...]:
        """The shards this one continues (none for an original shard)."""
        return tuple(p for p in (self.parent_shard_id, self.adjacent_parent_shard_id) if p)

    @classmethod
    def from_wire(cls, shard: Mapping[str, Any]) -> Shard:
        """From the ``Shard`` structure both APIs return (PascalCase)."""
        numbers = shard.get("SequenceNumberRange") or {}
        return cls(
            shard_id=str(shard["ShardId"]),
            parent_shard_id=shard.get("ParentShardId"),
            adjacent_parent_shard_id=shard.get("AdjacentParentShardId"),
            starting_sequence_number=numbers.get("StartingSequenceNumber"),
            ending_sequence_number=numbers.get("EndingSequenceNumber"),
        )


def readable_shards(shards: Iterable[Shard], finished: Collection[str]) -> list[Shard]:
    """The shards to read now, parents before children.

    A shard is readable when it is not finished and each of its parents is
    either finished or no longer listed (trimmed past the retention period:
    nothing of it is left to read). Order is kept: the listing's order.
    """
    listing = list(shards)
    listed = {shard.shard_id for shard in listing}
    return [
        shard
        for shard in listing
        if shard.shard_id not in finished
        and all(parent in finished or parent not in listed for parent in shard.parents)
    ]


class IteratorType(enum.Enum):
    """``ShardIteratorType`` values of ``GetShardIterator``."""

    TRIM_HORIZON = "TRIM_HORIZON"
    LATEST = "LATEST"
    AT_TIMESTAMP = "AT_TIMESTAMP"
    AT_SEQUENCE_NUMBER = "AT_SEQUENCE_NUMBER"
    AFTER_SEQUENCE_NUMBER = "AFTER_SEQUENCE_NUMBER"


@dataclass(frozen=True)
class IteratorPosition:
    """Where in a shard a new iterator starts.

    ``sequence_number`` goes with the two ``*_SEQUENCE_NUMBER`` types,
    ``timestamp_s`` (epoch seconds) with ``AT_TIMESTAMP``.
    """

    type: IteratorType
    sequence_number: str | None = None
    timestamp_s: float | None = None

    def __post_init__(self) -> None:
        needs_number = self.type in (
            IteratorType.AT_SEQUENCE_NUMBER,
            IteratorType.AFTER_SEQUENCE_NUMBER,
        )
        if needs_number != (self.sequence_number is not None):
            raise ValueError(f"{self.type.value} takes a sequence number iff it names one")
        if (self.type is IteratorType.AT_TIMESTAMP) != (self.timestamp_s is not None):
            raise ValueError("AT_TIMESTAMP and only it takes a timestamp")

    @classmethod
    def trim_horizon(cls) -> IteratorPosition:
        """The oldest record still in the shard."""
        return cls(IteratorType.TRIM_HORIZON)

    @classmethod
    def latest(cls) -> IteratorPosition:
        """Just after the newest record: only records added from now on."""
        return cls(IteratorType.LATEST)

    @classmethod
    def at_timestamp(cls, timestamp_s: float) -> IteratorPosition:
        """The first record that arrived at or after ``timestamp_s`` (Kinesis only)."""
        return cls(IteratorType.AT_TIMESTAMP, timestamp_s=timestamp_s)

    @classmethod
    def after(cls, sequence_number: str) -> IteratorPosition:
        """Just after ``sequence_number``: resuming from a checkpoint."""
        return cls(IteratorType.AFTER_SEQUENCE_NUMBER, sequence_number=sequence_number)

    @classmethod
    def at(cls, sequence_number: str) -> IteratorPosition:
        """At ``sequence_number``: reading again from a record not done yet."""
        return cls(IteratorType.AT_SEQUENCE_NUMBER, sequence_number=sequence_number)

    @classmethod
    def from_starting_position(
        cls, starting_position: str, timestamp_s: float | None = None
    ) -> IteratorPosition:
        """From a mapping's ``StartingPosition`` (and ``StartingPositionTimestamp``)."""
        kind = IteratorType(starting_position)
        if kind is IteratorType.AT_TIMESTAMP:
            if timestamp_s is None:
                raise ValueError("AT_TIMESTAMP needs a StartingPositionTimestamp")
            return cls.at_timestamp(timestamp_s)
        if kind not in (IteratorType.TRIM_HORIZON, IteratorType.LATEST):
            raise ValueError(f"not a StartingPosition: {starting_position}")
        return cls(kind)
