"""Where a stream mapping starts reading each shard: pure decisions, no I/O.

A mapping's ``StartingPosition`` (``TRIM_HORIZON``, ``LATEST`` or ``AT_TIMESTAMP``
with ``StartingPositionTimestamp``) only decides where a shard starts the first
time; from then on its checkpoint does (``AFTER_SEQUENCE_NUMBER``), so a
restarted or moved poller resumes after the last record done. ``LATEST`` moves
on by itself, so a shard started there pins its start in the checkpoint as soon
as its first records are read, before any is invoked (``at:`` the first one,
``AT_SEQUENCE_NUMBER``): a restart while none is done yet reads them again
instead of skipping them.

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

Positions are opaque: nothing here compares them. Shards and iterator positions
are ``roost.esm.shards``'s, shared with the stream readers.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from roost.esm.mapping import EventSourceMapping
from roost.esm.shards import IteratorPosition, Shard
from roost.store.ports import ShardCheckpoint


class StartingPosition(enum.Enum):
    """A mapping's ``StartingPosition``: where a shard it never read starts."""

    TRIM_HORIZON = "TRIM_HORIZON"
    LATEST = "LATEST"
    AT_TIMESTAMP = "AT_TIMESTAMP"


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


def mapping_starting_position(mapping: EventSourceMapping) -> StartingPositionSetting:
    """A mapping's ``StartingPosition`` (validation made it present for streams)."""
    settings = mapping.settings
    return StartingPositionSetting.of(
        settings.starting_position or "LATEST", settings.starting_position_timestamp_s
    )


def initial_position(setting: StartingPositionSetting) -> IteratorPosition:
    """Where a shard starts from the mapping's setting alone."""
    return IteratorPosition.from_starting_position(setting.position.value, setting.timestamp_s)


class ShardAction(enum.Enum):
    """What a poller does with a shard right now."""

    READ = "read"  # open an iterator at ``ShardPlan.start``
    WAIT = "wait"  # a parent in play is not closed yet
    DONE = "done"  # nothing to read: closed, or closed before a LATEST mapping met it


@dataclass(frozen=True)
class ShardPlan:
    """A shard's action, and where to start when it is ``READ``."""

    action: ShardAction
    start: IteratorPosition | None = None


WAIT = ShardPlan(ShardAction.WAIT)
DONE = ShardPlan(ShardAction.DONE)


# A checkpoint position that marks where reading began, not a record done.
PINNED_START = "at:"


def pinned_start(first_record_id: str) -> str:
    """The checkpoint position that pins a shard's start at its first record read."""
    return PINNED_START + first_record_id


def resume_position(position: str) -> IteratorPosition:
    """Where a stored checkpoint position resumes: after the last record done, or at
    the first record read when none was done yet (a pinned start)."""
    if position.startswith(PINNED_START):
        return IteratorPosition.at(position[len(PINNED_START) :])
    return IteratorPosition.after(position)


def plan_shard(
    shard: Shard,
    listed: Mapping[str, Shard],
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
        return ShardPlan(ShardAction.READ, resume_position(checkpoint.position))
    parents = [p for p in shard.parents if _in_play(p, listed, checkpoints, setting)]
    if parents:
        if not all(_finished(p, listed, checkpoints) for p in parents):
            return WAIT
        at_timestamp = setting.position is StartingPosition.AT_TIMESTAMP
        start = initial_position(setting) if at_timestamp else IteratorPosition.trim_horizon()
        return ShardPlan(ShardAction.READ, start)
    if setting.position is StartingPosition.LATEST and shard.closed and checkpoint is None:
        # Nothing will ever arrive after LATEST in a closed shard.
        return DONE
    # A checkpoint without a position (claimed, nothing done yet) starts over
    # from the setting, as the Kinesis Client Library does.
    return ShardPlan(ShardAction.READ, initial_position(setting))


def plan_shards(
    listed: Mapping[str, Shard],
    checkpoints: Mapping[str, ShardCheckpoint],
    setting: StartingPositionSetting,
) -> dict[str, ShardPlan]:
    """``plan_shard`` for every listed shard, by shard id."""
    return {
        shard_id: plan_shard(shard, listed, checkpoints, setting)
        for shard_id, shard in listed.items()
    }


def _finished(
    parent_id: str, listed: Mapping[str, Shard], checkpoints: Mapping[str, ShardCheckpoint]
) -> bool:
    """Whether a parent in play is done with: read to its end, or trimmed away by the
    stream's retention before it was (no one can read it any more, so waiting for it
    would stall its children for good)."""
    checkpoint = checkpoints.get(parent_id)
    return (checkpoint is not None and checkpoint.closed) or parent_id not in listed


def _in_play(
    parent_id: str,
    listed: Mapping[str, Shard],
    checkpoints: Mapping[str, ShardCheckpoint],
    setting: StartingPositionSetting,
) -> bool:
    if parent_id in checkpoints:
        return True
    return parent_id in listed and setting.position is not StartingPosition.LATEST
