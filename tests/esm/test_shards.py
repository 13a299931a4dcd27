"""Sequence numbers, shard lineage and iterator positions."""

from __future__ import annotations

import pytest

from roost.esm.kinesis import IteratorPosition, IteratorType, Shard, readable_shards, sequence_key


def test_sequence_numbers_compare_as_integers_whatever_their_length() -> None:
    assert sequence_key("9") < sequence_key("10")
    assert sorted(["10", "9", "100"], key=sequence_key) == ["9", "10", "100"]
    aws = "49590338271490256608559692538361571095921575989136588898"
    assert sequence_key(aws) > sequence_key("49590338271490256608559692538361571095921575989136588")


def test_shard_from_wire_keeps_parents_and_range() -> None:
    shard = Shard.from_wire(
        {
            "ShardId": "shardId-000000000003",
            "ParentShardId": "shardId-000000000000",
            "AdjacentParentShardId": "shardId-000000000001",
            "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "1"},
            "SequenceNumberRange": {"StartingSequenceNumber": "7", "EndingSequenceNumber": "9"},
        }
    )

    assert shard == Shard(
        "shardId-000000000003", "shardId-000000000000", "shardId-000000000001", "7", "9"
    )
    assert shard.closed
    assert shard.parents == ("shardId-000000000000", "shardId-000000000001")
    assert not Shard("shardId-000000000000").closed


def test_children_are_readable_only_once_every_parent_is_finished() -> None:
    # Given 0 split into 2 and 3, then 2 and 1 merged into 4.
    shards = [
        Shard("s0", ending_sequence_number="5"),
        Shard("s1", ending_sequence_number="8"),
        Shard("s2", parent_shard_id="s0", ending_sequence_number="9"),
        Shard("s3", parent_shard_id="s0"),
        Shard("s4", parent_shard_id="s2", adjacent_parent_shard_id="s1"),
    ]

    def ids(finished: set[str]) -> list[str]:
        return [shard.shard_id for shard in readable_shards(shards, finished)]

    assert ids(set()) == ["s0", "s1"]
    assert ids({"s0"}) == ["s1", "s2", "s3"]
    assert ids({"s0", "s2"}) == ["s1", "s3"]  # s4 still waits for s1.
    assert ids({"s0", "s1", "s2"}) == ["s3", "s4"]


def test_a_parent_trimmed_from_the_listing_does_not_block_its_children() -> None:
    shards = [Shard("s2", parent_shard_id="gone"), Shard("s3", parent_shard_id="gone")]

    assert readable_shards(shards, set()) == shards


def test_iterator_positions_take_exactly_their_argument() -> None:
    assert IteratorPosition.after("12").sequence_number == "12"
    assert IteratorPosition.at_timestamp(5.0).timestamp_s == 5.0
    assert IteratorPosition.from_starting_position("LATEST") == IteratorPosition.latest()
    assert IteratorPosition.from_starting_position("AT_TIMESTAMP", 7.5).timestamp_s == 7.5
    with pytest.raises(ValueError):
        IteratorPosition(IteratorType.AFTER_SEQUENCE_NUMBER)
    with pytest.raises(ValueError):
        IteratorPosition(IteratorType.TRIM_HORIZON, timestamp_s=1.0)
    with pytest.raises(ValueError):
        IteratorPosition.from_starting_position("AT_TIMESTAMP")
    with pytest.raises(ValueError):
        IteratorPosition.from_starting_position("AFTER_SEQUENCE_NUMBER")
