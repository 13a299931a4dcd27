"""Where a stream mapping starts reading each shard: pure decisions, no I/O.

A mapping's ``StartingPosition`` (``TRIM_HORIZON``, ``LATEST`` or ``AT_TIMESTAMP``
with ``StartingPositionTimestamp``) only decides where a shard starts the first
time; from then on its checkpoint does (``AFTER_SEQUENCE_NUMBER``), so a
restarted or moved poller resumes after the last record done.

Resharding (a Kinesis split or merge, a DynamoDB Streams shard rolling over)
closes a parent shard and opens children that take the parent's new records.
Order holds across it only if a child waits until every parent it has in play
was read to its end (its checkpoint is closed), then reads from the start of
the child: ``TRIM_HORIZON`` (``AT_TIMESTAMP`` for an ``AT_TIMESTAMP`` mapping,
which gives the same records unless the split predates the timestamp), as
the Kinesis Client Library does for child shards. Which parents are in play:

- one the mapping has a checkpoint for (it started reading it);
- for ``TRIM_HORIZON`` and ``AT_TIMESTAMP``, also one the stream still lists,
  since the mapping will read it first; a parent no longer listed and never
  read was trimmed away and is not waited for;
- for ``LATEST``, only the first kind: a mapping created at ``LATEST`` never
  reads shards that were closed before it started, and their children start
  at ``LATEST`` like any other open shard it meets first.

Positions are opaque: nothing here compares them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roost.store.ports import ShardCheckpoint


class StartingPosition(enum.Enum):
    """A mapping's ``StartingPosition``: where a shard it never read starts."""

    TRIM_HORIZON = "TRIM_HORIZON"
    LATEST = "LATEST"
    AT_TIMESTAMP = "AT_TIMESTAMP"


class IteratorType(enum.Enum):
    """``ShardIteratorType`` of a read (Kinesis and DynamoDB Streams share the names)."""

    TRIM_HORIZON = "TRIM_HORIZON"
    LATEST = "LATEST"
    AT_TIMESTAMP = "AT_TIMESTAMP"
    AFTER_SEQUENCE_NUMBER = "AFTER_SEQUENCE_NUMBER"


@dataclass(frozen=True)
class StartingPositionSetting:
    """A mapping's starting position, with its timestamp (epoch seconds) for ``AT_TIMESTAMP``."""

    position: StartingPosition
    timestamp_s: float | None = None

    def __post_init__(self) -> None:
        # Validation already holds the API to this; a programming error otherwise.
        if (self.position is StartingPosition.AT_TIMESTAMP) != (self.timestamp_s is not None):
            raise ValueError("a timestamp goes with AT_TIMESTAMP, and only with it")

    @classmethod
    def of(cls, position: str, timestamp_s: float | None = None) -> StartingPositionSetting:
        """From ``MappingSettings.starting_position`` and ``starting_position_timestamp_s``."""
        return cls(StartingPosition(position), timestamp_s)


@dataclass(frozen=True)
class ShardStart:
    """Where to open a shard iterator: a type, with a sequence number or a timestamp."""

    iterator_type: IteratorType
    sequence_number: str | None = None
    timestamp_s: float | None = None

    def kinesis_params(self) -> dict[str, Any]:
        """``GetShardIterator`` arguments for Kinesis (without the stream and shard)."""
        params: dict[str, Any] = {"ShardIteratorType": self.iterator_type.value}
        if self.sequence_number is not None:
            params["StartingSequenceNumber"] = self.sequence_number
        if self.timestamp_s is not None:
            params["Timestamp"] = self.timestamp_s
        return params

    def dynamodb_params(self) -> dict[str, Any]:
        """``GetShardIterator`` arguments for DynamoDB Streams (no timestamps there)."""
        params: dict[str, Any] = {"ShardIteratorType": self.iterator_type.value}
        if self.sequence_number is not None:
            params["SequenceNumber"] = self.sequence_number
        return params


TRIM_HORIZON = ShardStart(IteratorType.TRIM_HORIZON)
LATEST = ShardStart(IteratorType.LATEST)


def after(sequence_number: str) -> ShardStart:
    """Resume right after a checkpoint's position."""
    return ShardStart(IteratorType.AFTER_SEQUENCE_NUMBER, sequence_number)


def initial_start(setting: StartingPositionSetting) -> ShardStart:
    """Where a shard starts from the mapping's setting alone."""
    if setting.position is StartingPosition.AT_TIMESTAMP:
        return ShardStart(IteratorType.AT_TIMESTAMP, timestamp_s=setting.timestamp_s)
    return TRIM_HORIZON if setting.position is StartingPosition.TRIM_HORIZON else LATEST


@dataclass(frozen=True)
class ShardInfo:
    """A shard as the stream lists it: its parents (a merge has two) and whether it is closed.

    ``closed``: the shard has an ending sequence number, so no record will be
    added to it any more.
    """

    shard_id: str
    parent_ids: tuple[str, ...] = ()
    closed: bool = False

    @classmethod
    def from_wire(cls, shard: Mapping[str, Any]) -> ShardInfo:
        """From a Kinesis ``ListShards``/``DescribeStream`` or DynamoDB ``DescribeStream`` shard."""
        parents = (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
        ending = (shard.get("SequenceNumberRange") or {}).get("EndingSequenceNumber")
        return cls(
            shard_id=str(shard["ShardId"]),
            parent_ids=tuple(str(p) for p in parents if p),
            closed=ending is not None,
        )


class ShardAction(enum.Enum):
    """What a poller does with a shard right now."""

    READ = "read"  # open an iterator at ``ShardPlan.start``
    WAIT = "wait"  # a parent in play is not closed yet
    DONE = "done"  # nothing to read: closed, or closed before a LATEST mapping met it


@dataclass(frozen=True)
class ShardPlan:
    """A shard's action, and where to start when it is ``READ``."""

    action: ShardAction
    start: ShardStart | None = None


WAIT = ShardPlan(ShardAction.WAIT)
DONE = ShardPlan(ShardAction.DONE)


def plan_shard(
    shard: ShardInfo,
    listed: Mapping[str, ShardInfo],
    checkpoints: Mapping[str, ShardCheckpoint],
    setting: StartingPositionSetting,
) -> ShardPlan:
    """Decide ``shard``'s plan from the stream's shards and the mapping's checkpoints.

    ``listed`` is every shard the stream lists now, ``checkpoints`` the mapping's
    checkpoints (``CheckpointStore.list``), both by shard id.
    """
    checkpoint = checkpoints.get(shard.shard_id)
    if checkpoint is not None and checkpoint.closed:
        return DONE
    if checkpoint is not None and checkpoint.position is not None:
        return ShardPlan(ShardAction.READ, after(checkpoint.position))
    parents = [p for p in shard.parent_ids if _in_play(p, listed, checkpoints, setting)]
    if parents:
        if not all(checkpoints[p].closed if p in checkpoints else False for p in parents):
            return WAIT
        at_timestamp = setting.position is StartingPosition.AT_TIMESTAMP
        return ShardPlan(ShardAction.READ, initial_start(setting) if at_timestamp else TRIM_HORIZON)
    if setting.position is StartingPosition.LATEST and shard.closed and checkpoint is None:
        # Nothing will ever arrive after LATEST in a closed shard.
        return DONE
    # A checkpoint without a position (claimed, nothing done yet) starts over
    # from the setting, as the Kinesis Client Library does.
    return ShardPlan(ShardAction.READ, initial_start(setting))


def plan_shards(
    listed: Mapping[str, ShardInfo],
    checkpoints: Mapping[str, ShardCheckpoint],
    setting: StartingPositionSetting,
) -> dict[str, ShardPlan]:
    """``plan_shard`` for every listed shard, by shard id."""
    return {
        shard_id: plan_shard(shard, listed, checkpoints, setting)
        for shard_id, shard in listed.items()
    }


def _in_play(
    parent_id: str,
    listed: Mapping[str, ShardInfo],
    checkpoints: Mapping[str, ShardCheckpoint],
    setting: StartingPositionSetting,
) -> bool:
    if parent_id in checkpoints:
        return True
    return parent_id in listed and setting.position is not StartingPosition.LATEST
