"""Where a shard starts: the mapping's StartingPosition, its checkpoint, its parents."""

from __future__ import annotations

import pytest

from roost.esm.positions import (
    DONE,
    WAIT,
    ShardAction,
    ShardPlan,
    StartingPosition,
    StartingPositionSetting,
    pinned_start,
    plan_shard,
    plan_shards,
)
from roost.esm.shards import IteratorPosition, Shard
from roost.store.ports import ShardCheckpoint

AT = StartingPositionSetting.of("AT_TIMESTAMP", 1_700_000_000.5)
HORIZON = StartingPositionSetting.of("TRIM_HORIZON")
NEWEST = StartingPositionSetting.of("LATEST")
EVERY_SETTING = [HORIZON, NEWEST, AT]


def checkpoint(shard: str, position: str | None = None, closed: bool = False) -> ShardCheckpoint:
    return ShardCheckpoint("m1", shard, position, closed, "poller", "rev")


TRIM_HORIZON = IteratorPosition.trim_horizon()
LATEST = IteratorPosition.latest()
after = IteratorPosition.after


def listed_shard(shard_id: str, parents: tuple[str, ...] = (), closed: bool = False) -> Shard:
    """A listed shard: its parents (a merge has two), closed or open."""
    return Shard(
        shard_id,
        parents[0] if parents else None,
        parents[1] if len(parents) > 1 else None,
        "1",
        "99" if closed else None,
    )


def shards(*infos: Shard) -> dict[str, Shard]:
    return {info.shard_id: info for info in infos}


def checkpoints(*cps: ShardCheckpoint) -> dict[str, ShardCheckpoint]:
    return {cp.shard_id: cp for cp in cps}


def read(start: IteratorPosition) -> ShardPlan:
    return ShardPlan(ShardAction.READ, start)


# A split: parent 0 closed into children 1 and 2. A merge: 1 and 2 into 3.
PARENT = listed_shard("shardId-0", closed=True)
LEFT = listed_shard("shardId-1", ("shardId-0",))
RIGHT = listed_shard("shardId-2", ("shardId-0",))
SPLIT = shards(PARENT, LEFT, RIGHT)


def test_the_setting_decides_a_new_shard_without_parents() -> None:
    shard = listed_shard("shardId-0")
    listed = shards(shard)

    assert plan_shard(shard, listed, {}, HORIZON) == read(TRIM_HORIZON)
    assert plan_shard(shard, listed, {}, NEWEST) == read(LATEST)
    assert plan_shard(shard, listed, {}, AT) == read(IteratorPosition.at_timestamp(1_700_000_000.5))


@pytest.mark.parametrize("setting", EVERY_SETTING)
def test_a_checkpoint_resumes_after_its_position(setting: StartingPositionSetting) -> None:
    shard = listed_shard("shardId-0")
    done = checkpoints(
        checkpoint("shardId-0", "49590338271490256608559692538361571095921575989136588898")
    )

    plan = plan_shard(shard, shards(shard), done, setting)

    assert plan == read(after("49590338271490256608559692538361571095921575989136588898"))


@pytest.mark.parametrize("setting", EVERY_SETTING)
def test_a_closed_checkpoint_is_done(setting: StartingPositionSetting) -> None:
    assert (
        plan_shard(PARENT, SPLIT, checkpoints(checkpoint("shardId-0", "9", True)), setting) == DONE
    )


@pytest.mark.parametrize("setting", EVERY_SETTING)
def test_a_claimed_shard_with_nothing_done_starts_from_the_setting(
    setting: StartingPositionSetting,
) -> None:
    shard = listed_shard("shardId-0")
    claimed = checkpoints(checkpoint("shardId-0"))

    plan = plan_shard(shard, shards(shard), claimed, setting)

    assert plan == plan_shard(shard, shards(shard), {}, setting)


@pytest.mark.parametrize("setting", [HORIZON, AT])
def test_children_wait_for_a_listed_parent_the_mapping_will_read(
    setting: StartingPositionSetting,
) -> None:
    # The parent is read first (from the horizon or the timestamp) ...
    assert plan_shard(PARENT, SPLIT, {}, setting).action is ShardAction.READ
    # ... while its children wait, even once claimed.
    assert plan_shard(LEFT, SPLIT, {}, setting) == WAIT
    assert plan_shard(LEFT, SPLIT, checkpoints(checkpoint("shardId-1")), setting) == WAIT


@pytest.mark.parametrize("setting", EVERY_SETTING)
def test_children_wait_for_a_parent_being_read(setting: StartingPositionSetting) -> None:
    reading = checkpoints(checkpoint("shardId-0", "5"))

    assert plan_shard(LEFT, SPLIT, reading, setting) == WAIT
    assert plan_shard(RIGHT, SPLIT, reading, setting) == WAIT


@pytest.mark.parametrize("setting", [HORIZON, NEWEST])
def test_children_start_at_the_horizon_once_their_parent_is_closed(
    setting: StartingPositionSetting,
) -> None:
    finished = checkpoints(checkpoint("shardId-0", "9", closed=True))

    plans = plan_shards(SPLIT, finished, setting)

    assert plans == {
        "shardId-0": DONE,
        "shardId-1": read(TRIM_HORIZON),
        "shardId-2": read(TRIM_HORIZON),
    }


def test_children_of_an_at_timestamp_mapping_start_at_the_timestamp() -> None:
    finished = checkpoints(checkpoint("shardId-0", closed=True))

    plan = plan_shard(LEFT, SPLIT, finished, AT)

    assert plan == read(IteratorPosition.at_timestamp(AT.timestamp_s))


def test_a_merged_child_waits_for_both_parents() -> None:
    merged = listed_shard("shardId-3", ("shardId-1", "shardId-2"))
    listed = shards(LEFT, RIGHT, merged)
    one_done = checkpoints(checkpoint("shardId-1", "4", True), checkpoint("shardId-2", "7"))
    both_done = checkpoints(checkpoint("shardId-1", "4", True), checkpoint("shardId-2", "7", True))

    assert plan_shard(merged, listed, one_done, HORIZON) == WAIT
    assert plan_shard(merged, listed, both_done, HORIZON) == read(TRIM_HORIZON)


@pytest.mark.parametrize("setting", EVERY_SETTING)
def test_a_parent_trimmed_away_and_never_read_is_not_waited_for(
    setting: StartingPositionSetting,
) -> None:
    # shardId-0 is past the retention period: the stream lists only its children.
    listed = shards(LEFT, RIGHT)

    assert plan_shard(LEFT, listed, {}, setting) == plan_shard(
        listed_shard("x"), shards(listed_shard("x")), {}, setting
    )


@pytest.mark.parametrize("setting", [HORIZON, NEWEST])
def test_a_parent_trimmed_away_half_read_does_not_stall_its_children(
    setting: StartingPositionSetting,
) -> None:
    # shardId-0 was being read (its checkpoint is not closed) when the mapping was
    # disabled for longer than the retention period: the stream lists only its
    # children now, and no one can read the rest of it any more.
    listed = shards(LEFT, RIGHT)
    half_read = checkpoints(checkpoint("shardId-0", "5"))

    assert plan_shards(listed, half_read, setting) == {
        "shardId-1": read(TRIM_HORIZON),
        "shardId-2": read(TRIM_HORIZON),
    }


@pytest.mark.parametrize("setting", EVERY_SETTING)
def test_a_pinned_start_resumes_at_the_first_record_read(
    setting: StartingPositionSetting,
) -> None:
    pinned = checkpoints(checkpoint("shardId-1", pinned_start("41")))

    assert plan_shard(LEFT, shards(LEFT), pinned, setting) == read(IteratorPosition.at("41"))


def test_latest_skips_shards_closed_before_the_mapping_met_them() -> None:
    # A LATEST mapping created after the split reads neither the closed parent
    # nor the children's old records: the children start at LATEST.
    assert plan_shards(SPLIT, {}, NEWEST) == {
        "shardId-0": DONE,
        "shardId-1": read(LATEST),
        "shardId-2": read(LATEST),
    }


def test_latest_reads_a_claimed_parent_to_its_end_before_the_children() -> None:
    # The mapping claimed the parent while it was open; it split before a record came.
    claimed = checkpoints(checkpoint("shardId-0"))

    assert plan_shards(SPLIT, claimed, NEWEST) == {
        "shardId-0": read(LATEST),
        "shardId-1": WAIT,
        "shardId-2": WAIT,
    }


def test_setting_of_the_mapping_fields() -> None:
    assert StartingPositionSetting.of("LATEST").position is StartingPosition.LATEST
    with pytest.raises(ValueError):
        StartingPositionSetting.of("AT_TIMESTAMP")
    with pytest.raises(ValueError):
        StartingPositionSetting.of("LATEST", 5.0)
    with pytest.raises(ValueError):
        StartingPositionSetting.of("AT_SEQUENCE_NUMBER")
