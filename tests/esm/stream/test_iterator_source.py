"""``IteratorStreamSource`` reads its stream's retention when it opens, and again now
and then (it may change while the stream is read), keeping the last reading on errors."""

from __future__ import annotations

import asyncio

from roost.esm.stream.iterator_source import IteratorStreamSource
from tests.esm.stream.support import STREAM_ARN, MemoryStream, describe


class FlakyRetention(MemoryStream):
    """A stream whose retention reads count, and fail while ``failing``."""

    def __init__(self) -> None:
        super().__init__()
        self.reads_of_retention = 0
        self.failing = False

    async def retention_s(self) -> float | None:
        self.reads_of_retention += 1
        if self.failing:
            raise ConnectionError("LimitExceededException")
        return self.retention


def test_the_retention_is_read_at_open_then_at_most_every_refresh_interval() -> None:
    async def main() -> list[tuple[int, float | None]]:
        stream, now = FlakyRetention(), [0.0]
        stream.retention = 86_400.0

        async def connect() -> MemoryStream:
            return stream

        source = IteratorStreamSource(
            STREAM_ARN, connect, describe, 100, retention_refresh_s=600.0, clock=lambda: now[0]
        )
        seen = []
        await source.open()
        seen.append((stream.reads_of_retention, source.retention_s))
        stream.retention = 172_800.0
        now[0] = 599.0
        await source.refresh_retention()  # too soon: not read
        seen.append((stream.reads_of_retention, source.retention_s))
        now[0] = 600.0
        await source.refresh_retention()
        seen.append((stream.reads_of_retention, source.retention_s))
        stream.failing, now[0] = True, 1200.0
        await source.refresh_retention()  # fails: the last reading stands
        seen.append((stream.reads_of_retention, source.retention_s))
        return seen

    assert asyncio.run(main()) == [(1, 86_400.0), (1, 86_400.0), (2, 172_800.0), (3, 172_800.0)]
