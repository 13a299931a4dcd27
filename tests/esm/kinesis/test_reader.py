"""``ShardReader`` against a scripted ``StreamApi``: expiry, throttling, closing, rewinds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from roost.esm.connector import SourceRecord
from roost.esm.kinesis import (
    ExpiredIteratorError,
    IteratorPosition,
    IteratorType,
    ReaderSettings,
    RecordsPage,
    Shard,
    ShardReader,
    ThrottledError,
    TrimmedDataError,
)

SHARD = "shardId-000000000000"


def record(sequence_number: int) -> SourceRecord:
    return SourceRecord(record_id=str(sequence_number), event_record={}, size_bytes=2, handle=SHARD)


@dataclass
class ScriptedStream:
    """A shard of records 1..n; iterators are ``"after:N"``; errors are queued per call."""

    records: list[int]
    closed: bool = False
    supports_at_timestamp: bool = True
    arn: str = "arn:aws:kinesis:us-east-1:123456789012:stream/s"
    errors: list[Exception] = field(default_factory=list)
    positions: list[IteratorPosition] = field(default_factory=list)
    reads: int = 0
    overlap: int = 0  # AFTER_SEQUENCE_NUMBER iterators start this many records early.

    async def list_shards(self) -> list[Shard]:
        return [Shard(SHARD)]

    async def get_shard_iterator(self, shard_id: str, position: IteratorPosition) -> str:
        self.positions.append(position)
        if position.type is IteratorType.TRIM_HORIZON:
            return "after:0"
        if position.type is IteratorType.LATEST:
            return f"after:{max(self.records, default=0)}"
        if position.type is IteratorType.AT_TIMESTAMP:
            # Record n arrived at second n.
            assert position.timestamp_s is not None
            return f"after:{max((n for n in self.records if n < position.timestamp_s), default=0)}"
        assert position.sequence_number is not None
        number = int(position.sequence_number)
        if position.type is IteratorType.AT_SEQUENCE_NUMBER:
            return f"after:{number - 1}"
        return f"after:{number - self.overlap}"

    async def get_records(self, shard_id: str, iterator: str, limit: int) -> RecordsPage:
        self.reads += 1
        if self.errors:
            raise self.errors.pop(0)
        after = int(iterator.removeprefix("after:"))
        page = [n for n in self.records if n > after][:limit]
        last = page[-1] if page else after
        at_end = self.closed and last >= max(self.records, default=0)
        return RecordsPage(
            records=[record(n) for n in page],
            next_iterator=None if at_end else f"after:{last}",
            millis_behind_latest=0,
        )


def ids(records: list[SourceRecord]) -> list[int]:
    return [int(r.record_id) for r in records]


def test_records_come_in_order_from_the_start_position_and_the_iterator_is_reused() -> None:
    stream = ScriptedStream(records=[1, 2, 3, 4, 5])
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.trim_horizon())

    async def scenario() -> tuple[list[int], list[int], list[int]]:
        first = await reader.read(2)
        second = await reader.read(10)
        third = await reader.read(10)
        return ids(first.records), ids(second.records), ids(third.records)

    assert asyncio.run(scenario()) == ([1, 2], [3, 4, 5], [])
    assert stream.positions == [IteratorPosition.trim_horizon()]
    assert reader.last_sequence_number == "5"
    assert not reader.finished


def test_an_expired_iterator_is_reacquired_after_the_last_record_read() -> None:
    # Given a reader that read up to 2, when its iterator expires,
    # then it asks for one AFTER_SEQUENCE_NUMBER 2 and goes on with 3.
    stream = ScriptedStream(records=[1, 2, 3, 4])
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.trim_horizon())

    async def scenario() -> list[int]:
        await reader.read(2)
        stream.errors.append(ExpiredIteratorError("Iterator expired"))
        return ids((await reader.read(10)).records)

    assert asyncio.run(scenario()) == [3, 4]
    assert stream.positions[-1] == IteratorPosition.after("2")
    assert reader.expired_iterators == 1


def test_an_iterator_expired_before_any_record_goes_back_to_the_start_position() -> None:
    stream = ScriptedStream(records=[1, 2], errors=[ExpiredIteratorError("expired")])
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.trim_horizon())

    assert ids(asyncio.run(reader.read(10)).records) == [1, 2]
    assert stream.positions == [IteratorPosition.trim_horizon()] * 2


@pytest.mark.parametrize("supports_at_timestamp", [True, False])
def test_a_latest_iterator_expired_before_any_record_resumes_where_it_began(
    supports_at_timestamp: bool,
) -> None:
    # Given a LATEST reader started at second 2.5 on records 1 and 2 that read
    # nothing before records 3 and 4 came and its iterator expired, then on
    # Kinesis it resumes AT_TIMESTAMP 2.5 and reads them; taking LATEST again
    # (all DynamoDB Streams can do) skips them.
    stream = ScriptedStream(records=[1, 2], supports_at_timestamp=supports_at_timestamp)
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.latest(), clock=lambda: 2.5)

    async def scenario() -> tuple[list[int], list[int]]:
        first = await reader.read(10)
        stream.records += [3, 4]
        stream.errors.append(ExpiredIteratorError("expired"))
        return ids(first.records), ids((await reader.read(10)).records)

    if supports_at_timestamp:
        assert asyncio.run(scenario()) == ([], [3, 4])
        assert stream.positions == [IteratorPosition.latest(), IteratorPosition.at_timestamp(2.5)]
    else:
        assert asyncio.run(scenario()) == ([], [])
        assert stream.positions == [IteratorPosition.latest()] * 2


def test_a_trimmed_position_restarts_at_trim_horizon() -> None:
    stream = ScriptedStream(records=[7, 8], errors=[TrimmedDataError("trimmed")])
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.after("3"))

    assert ids(asyncio.run(reader.read(10)).records) == [7, 8]
    assert stream.positions == [IteratorPosition.after("3"), IteratorPosition.trim_horizon()]


def test_throttling_backs_off_exponentially_up_to_the_cap_and_resets_on_success() -> None:
    slept: list[float] = []

    async def sleep(delay_s: float) -> None:
        slept.append(delay_s)

    stream = ScriptedStream(records=[1], errors=[ThrottledError("slow down")] * 5)
    settings = ReaderSettings(first_backoff_s=0.1, max_backoff_s=0.5)
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.trim_horizon(), settings, sleep)

    async def scenario() -> list[bool]:
        throttled = [(await reader.read(10)).throttled for _ in range(5)]
        got = await reader.read(10)
        assert ids(got.records) == [1] and not got.throttled
        stream.errors.append(ThrottledError("again"))
        throttled.append((await reader.read(10)).throttled)
        return throttled

    assert asyncio.run(scenario()) == [True] * 6
    assert slept == [0.1, 0.2, 0.4, 0.5, 0.5, 0.1]
    assert reader.throttles == 6


def test_a_null_next_iterator_finishes_a_closed_shard() -> None:
    stream = ScriptedStream(records=[1, 2, 3], closed=True)
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.trim_horizon())

    async def scenario() -> tuple[bool, bool, int]:
        first = await reader.read(2)
        last = await reader.read(2)
        after = await reader.read(2)
        return first.finished, last.finished and ids(last.records) == [3], len(after.records)

    assert asyncio.run(scenario()) == (False, True, 0)
    assert reader.finished
    assert stream.reads == 2  # Nothing is read from a finished shard.


def test_a_shard_listed_closed_finishes_at_its_ending_sequence_number() -> None:
    # moto never answers a null NextShardIterator: the listing's end decides.
    stream = ScriptedStream(records=[1, 2])
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.trim_horizon())

    async def scenario() -> list[bool]:
        finished = [(await reader.read(10)).finished, (await reader.read(10)).finished]
        reader.update_shard(Shard(SHARD, ending_sequence_number="2"))
        finished.append((await reader.read(10)).finished)
        return finished

    assert asyncio.run(scenario()) == [False, False, True]


def test_records_already_handed_out_are_not_handed_out_again_after_a_reacquire() -> None:
    stream = ScriptedStream(records=[1, 2, 3, 4], overlap=2)
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.trim_horizon())

    async def scenario() -> list[int]:
        await reader.read(2)
        stream.errors.append(ExpiredIteratorError("expired"))
        return ids((await reader.read(10)).records)

    assert asyncio.run(scenario()) == [3, 4]


def test_seek_rewinds_to_a_checkpoint() -> None:
    stream = ScriptedStream(records=[1, 2, 3], closed=True)
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.after("1"))

    async def scenario() -> list[int]:
        assert (await reader.read(10)).finished
        reader.seek(IteratorPosition(IteratorType.AT_SEQUENCE_NUMBER, sequence_number="2"))
        again = await reader.read(10)
        reader.seek(IteratorPosition.after("2"))
        return ids(again.records) + ids((await reader.read(10)).records)

    assert asyncio.run(scenario()) == [2, 3, 3]


def test_at_timestamp_is_refused_for_streams_without_it() -> None:
    stream = ScriptedStream(records=[], supports_at_timestamp=False)

    with pytest.raises(ValueError, match="AT_TIMESTAMP"):
        ShardReader(stream, Shard(SHARD), IteratorPosition.at_timestamp(1.0))
    reader = ShardReader(stream, Shard(SHARD), IteratorPosition.latest())
    with pytest.raises(ValueError, match="AT_TIMESTAMP"):
        reader.seek(IteratorPosition.at_timestamp(1.0))
