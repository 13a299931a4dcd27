"""The log store behind ``roost logs``: its file format and ``since`` pages."""

from __future__ import annotations

import asyncio
from pathlib import Path

from roost.worker.log_store import LogEntry, LogStore, decode_records, encode_record

ACCOUNT = "000000000000"


def test_records_round_trip_whatever_the_text_holds() -> None:
    texts = [b"plain\n", b"", b"\x1e12 3\nforged header inside\n", b"\xff\xfe binary"]
    data = b"".join(encode_record(100 + i, text) for i, text in enumerate(texts))

    assert decode_records(data) == [LogEntry(100 + i, text) for i, text in enumerate(texts)]


def test_bare_text_of_the_old_format_is_kept() -> None:
    data = b"START old\nEND old\n" + encode_record(500, b"new\n")

    assert decode_records(data, default_ms=7) == [
        LogEntry(7, b"START old\nEND old\n"),
        LogEntry(500, b"new\n"),
    ]


def test_a_torn_record_does_not_hide_later_ones() -> None:
    torn = encode_record(100, b"cut short by a crash\n")[:-8]
    data = encode_record(50, b"before\n") + torn + encode_record(200, b"after\n")

    decoded = decode_records(data)

    assert decoded[0] == LogEntry(50, b"before\n")
    assert decoded[-1] == LogEntry(200, b"after\n")
    assert decoded[1].text.startswith(b"cut short")


def test_a_torn_tail_is_returned_as_far_as_it_goes() -> None:
    data = encode_record(50, b"whole\n") + encode_record(60, b"partial line\n")[:-5]

    assert decode_records(data) == [LogEntry(50, b"whole\n"), LogEntry(60, b"partial ")]


def test_pages_return_each_entry_once(tmp_path: Path) -> None:
    store = LogStore(tmp_path)

    async def scenario() -> None:
        store.append(ACCOUNT, "fn", b"one\n")
        first = await store.page(ACCOUNT, "fn")
        store.append(ACCOUNT, "fn", b"two\n")
        store.append(ACCOUNT, "other", b"elsewhere\n")
        second = await store.page(ACCOUNT, "fn", first.until_ms)
        third = await store.page(ACCOUNT, "fn", second.until_ms)

        assert first.text == b"one\n"
        assert second.text == b"two\n"
        assert third.text == b""
        assert third.until_ms >= second.until_ms >= first.until_ms
        assert await store.read(ACCOUNT, "fn") == b"one\ntwo\n"
        assert await store.read(ACCOUNT, "missing") == b""

    asyncio.run(scenario())


def test_batched_appends_stay_whole(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    texts = [f"invocation {i}\n".encode() * 50 for i in range(40)]

    async def scenario() -> None:
        for text in texts:
            store.append(ACCOUNT, "fn", text)
        page = await store.page(ACCOUNT, "fn")

        assert sorted(entry.text for entry in page.entries) == sorted(texts)
        stamps = [entry.timestamp_ms for entry in page.entries]
        assert stamps == sorted(stamps)

    asyncio.run(scenario())


def test_since_skips_older_days_and_keeps_the_day_of_old_text(tmp_path: Path) -> None:
    directory = tmp_path / ACCOUNT / "fn"
    directory.mkdir(parents=True)
    (directory / "2020-01-01.log").write_bytes(b"bare text of 2020\n")
    (directory / "2020-01-02.log").write_bytes(encode_record(1_577_923_200_500, b"jan 2\n"))
    store = LogStore(tmp_path)

    everything = asyncio.run(store.page(ACCOUNT, "fn"))
    from_jan_2 = asyncio.run(store.page(ACCOUNT, "fn", 1_577_923_200_000))

    assert everything.text == b"bare text of 2020\njan 2\n"
    assert everything.entries[0].timestamp_ms == 1_577_836_800_000  # 2020-01-01T00:00Z
    assert from_jan_2.text == b"jan 2\n"
