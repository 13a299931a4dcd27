"""``SqliteQueueStore`` beyond the contract: persistence, group commit, SIGKILL durability."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from roost.store.errors import StoreUnavailable
from roost.store.ports import QueueDepth
from roost.store.sqlite import SqliteQueueStore
from roost.store.sqlite.queues import _SELECT_NEWEST, MIGRATIONS
from tests.fixtures.crash import acknowledged_before_sigkill
from tests.fixtures.stores import FakeClock, assert_wal_full_sync_and_versioned

Q = "async-0"


def test_messages_and_their_visibility_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "data" / "queues.db"
    clock = FakeClock()

    async def main() -> None:
        store = await SqliteQueueStore.open(path, clock=clock)
        ids = await store.send_batch(Q, [b"a", b"b", b"c"])
        await store.send(Q, b"delayed", delay_s=60)
        (in_flight,) = await store.receive(Q, visibility_timeout_s=30)
        await store.close()

        reopened = await SqliteQueueStore.open(path, clock=clock)
        try:
            assert await reopened.depth(Q) == QueueDepth(visible=2, in_flight=1, delayed=1)
            assert await reopened.delete(Q, in_flight.receipt) is True
            rest = await reopened.receive(Q, max_messages=10)
            assert [m.message_id for m in rest] == ids[1:]
        finally:
            await reopened.close()

    asyncio.run(main())


def test_the_file_is_wal_with_full_sync_and_a_schema_version(tmp_path: Path) -> None:
    assert_wal_full_sync_and_versioned(
        tmp_path / "queues.db", SqliteQueueStore.open, len(MIGRATIONS)
    )


def test_a_receive_reads_an_index_range_without_sorting(tmp_path: Path) -> None:
    path = tmp_path / "queues.db"
    asyncio.run(_open_and_close(path))

    with contextlib.closing(sqlite3.connect(path)) as connection:
        plan = " | ".join(
            str(row[3])
            for row in connection.execute(
                "EXPLAIN QUERY PLAN SELECT sequence FROM queue_messages "
                "WHERE queue = ? AND visible_at_ms <= ? ORDER BY visible_at_ms, sequence LIMIT ?",
                ("q", 0, 10),
            )
        )

    assert "queue_messages_by_visibility" in plan
    assert "TEMP B-TREE" not in plan


def test_a_newest_first_receive_scans_the_send_index_backwards_without_sorting(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queues.db"
    asyncio.run(_open_and_close(path))

    with contextlib.closing(sqlite3.connect(path)) as connection:
        plan = " | ".join(
            str(row[3])
            for row in connection.execute("EXPLAIN QUERY PLAN " + _SELECT_NEWEST, ("q", 0, 10))
        )

    assert "queue_messages_by_send" in plan
    assert "TEMP B-TREE" not in plan


async def _open_and_close(path: Path) -> None:
    await (await SqliteQueueStore.open(path)).close()


# Group commit


def test_sends_arriving_together_share_one_transaction(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db")
        try:
            ids = await asyncio.gather(*(store.send(Q, b"%d" % n) for n in range(200)))

            assert store.stats.transactions == 1
            assert store.stats.operations == 200
            received = await store.receive(Q, max_messages=500)
            assert sorted(m.message_id for m in received) == sorted(ids)
        finally:
            await store.close()

    asyncio.run(main())


def test_sends_arriving_during_a_commit_go_into_the_next_one(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db")
        try:

            async def sender() -> None:
                for _ in range(50):
                    await store.send(Q, b"m")

            # 20 senders each waiting for its previous send: every commit
            # carries the sends that queued up while the last one ran.
            await asyncio.gather(*(sender() for _ in range(20)))

            assert store.stats.operations == 1000
            assert store.stats.transactions <= 100
            assert (await store.depth(Q)).visible == 1000
        finally:
            await store.close()

    asyncio.run(main())


def test_max_batch_ops_one_commits_every_send_alone(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db", max_batch_ops=1)
        try:
            await asyncio.gather(*(store.send(Q, b"m") for _ in range(30)))

            assert store.stats.transactions == 30
            assert store.stats.largest_batch == 1
        finally:
            await store.close()

    asyncio.run(main())


def test_a_failed_transaction_fails_every_send_in_it_and_keeps_earlier_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queues.db"

    async def main() -> None:
        store = await SqliteQueueStore.open(path)
        try:
            kept = await store.send(Q, b"before")
            _abort_inserts_of(path, b"poison")

            # These three queue up together, so they share one transaction.
            results = await asyncio.gather(
                store.send(Q, b"innocent 1"),
                store.send(Q, b"poison"),
                store.send(Q, b"innocent 2"),
                return_exceptions=True,
            )

            assert all(isinstance(result, StoreUnavailable) for result in results)
            assert store.stats.transactions == 1  # only the first send's
            after = await store.send(Q, b"after")
            received = await store.receive(Q, max_messages=10)
            assert [m.message_id for m in received] == [kept, after]
        finally:
            await store.close()

    asyncio.run(main())


def _abort_inserts_of(path: Path, body: bytes) -> None:
    """A trigger on the file makes SQLite itself fail any transaction inserting ``body``."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON queue_messages WHEN NEW.body = ? "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END".replace("?", f"x'{body.hex()}'")
        )
        connection.commit()


def test_only_transactions_holding_a_send_wait_for_an_fsync(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db")
        try:
            await store.send(Q, b"a")
            (message,) = await store.receive(Q)
            await store.change_visibility(Q, message.receipt, 0)
            (message,) = await store.receive(Q)
            await store.delete(Q, message.receipt)
            assert (store.stats.transactions, store.stats.synced) == (5, 1)

            # A receive sharing a transaction with a send is synced with it.
            await asyncio.gather(store.send(Q, b"b"), store.receive(Q))
            assert (store.stats.transactions, store.stats.synced) == (6, 2)
        finally:
            await store.close()

    asyncio.run(main())


def test_a_waiting_long_poll_is_handed_the_message_by_the_send_transaction(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db")
        try:
            polling = asyncio.create_task(
                store.receive(Q, max_messages=2, visibility_timeout_s=30, wait_s=5)
            )
            await _until_waiting(store)
            ids = await store.send_batch(Q, [b"a", b"b", b"c"])

            received = await polling
            assert [m.message_id for m in received] == ids[:2]
            assert [m.receive_count for m in received] == [1, 1]
            # The poll's empty first look, then the send that also received.
            assert store.stats.transactions == 2
            assert await store.depth(Q) == QueueDepth(visible=1, in_flight=2, delayed=0)
            assert await store.delete(Q, received[0].receipt) is True
        finally:
            await store.close()

    asyncio.run(main())


def test_polling_again_after_a_hand_off_asks_the_store_nothing_until_a_send(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db")
        try:
            polling = asyncio.create_task(store.receive(Q, wait_s=5))
            await _until_waiting(store)
            await store.send(Q, b"a")
            assert len(await polling) == 1
            assert store.stats.transactions == 2  # The first look, then the send.

            # Nothing became visible since the first look: no query, just a wait.
            assert await store.receive(Q, wait_s=0.2) == []
            assert store.stats.transactions == 2

            polling = asyncio.create_task(store.receive(Q, wait_s=5))
            await _until_waiting(store)
            await store.send_batch(Q, [b"b", b"c"])  # One for the poll, one left visible.
            assert len(await polling) == 1
            assert [m.body for m in await store.receive(Q, wait_s=1)] == [b"c"]
        finally:
            await store.close()

    asyncio.run(main())


def test_a_poll_that_stopped_waiting_gets_nothing_and_its_message_shows_again(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db")
        try:
            polling = asyncio.create_task(store.receive(Q, wait_s=5))
            await _until_waiting(store)
            sending = asyncio.create_task(store.send(Q, b"m"))
            await asyncio.sleep(0)  # Claimed, not committed yet.
            polling.cancel()
            message_id = await sending

            for _ in range(100):  # The release is a write of its own.
                if (await store.depth(Q)).visible == 1:
                    break
                await asyncio.sleep(0.01)
            (again,) = await store.receive(Q)
            assert again.message_id == message_id
        finally:
            await store.close()

    asyncio.run(main())


def test_a_delayed_message_is_not_handed_to_a_waiting_poll(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db")
        try:
            polling = asyncio.create_task(store.receive(Q, wait_s=0.3))
            await _until_waiting(store)
            await store.send(Q, b"later", delay_s=60)

            assert await polling == []
            assert (await store.depth(Q)).delayed == 1
        finally:
            await store.close()

    asyncio.run(main())


async def _until_waiting(store: SqliteQueueStore) -> None:
    """Let a started long poll make its first (empty) attempt and go to sleep."""
    for _ in range(500):
        if store._signals.waiting(Q):
            return
        await asyncio.sleep(0.002)
    raise AssertionError("the long poll never waited")


def test_a_delete_rides_in_the_next_send_s_transaction_or_commits_alone_soon_after(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db")
        try:
            await store.send_batch(Q, [b"a", b"b"])
            first, second = await store.receive(Q, max_messages=2)
            before = store.stats.transactions

            deleted, _ = await asyncio.gather(store.delete(Q, first.receipt), store.send(Q, b"c"))
            assert deleted is True
            assert store.stats.transactions == before + 1  # One commit for both.

            # With no other write coming, it still commits (after a short linger).
            assert await asyncio.wait_for(store.delete(Q, second.receipt), 1) is True
            assert store.stats.transactions == before + 2
        finally:
            await store.close()

    asyncio.run(main())


def test_long_polls_of_an_empty_queue_do_not_hammer_the_database(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db", clock=FakeClock())
        try:
            await asyncio.gather(*(store.receive(Q, wait_s=0.3) for _ in range(5)))

            # One attempt when each poll starts, one when its wait ends.
            assert store.stats.operations <= 10
        finally:
            await store.close()

    asyncio.run(main())


def test_a_cancelled_send_is_still_committed(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SqliteQueueStore.open(tmp_path / "queues.db")
        try:
            sending = asyncio.create_task(store.send(Q, b"m"))
            await asyncio.sleep(0)  # the send is queued in the committer
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending

            # The next call queues behind that transaction on the database thread.
            assert (await store.depth(Q)).visible == 1
        finally:
            await store.close()

    asyncio.run(main())


# Durability: every message acknowledged before a SIGKILL is there afterwards.

_SQLITE_SENDER = """
import asyncio, sys
from pathlib import Path
from roost.store.sqlite import SqliteQueueStore


async def main() -> None:
    store = await SqliteQueueStore.open(Path(sys.argv[1]))

    async def sender(n: int) -> None:
        for k in range(1_000_000):
            message_id = await store.send("async-0", f"{n}/{k}".encode())
            print(message_id, flush=True)

    await asyncio.gather(*(sender(n) for n in range(16)))

asyncio.run(main())
"""

ACKS_BEFORE_KILL = 400


def test_acknowledged_sends_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "queues.db"
    acknowledged = acknowledged_before_sigkill(
        _SQLITE_SENDER, str(path), acks_before_kill=ACKS_BEFORE_KILL
    )

    async def stored_ids() -> set[str]:
        store = await SqliteQueueStore.open(path)
        try:
            received = await store.receive(Q, max_messages=1_000_000)
            return {m.message_id for m in received}
        finally:
            await store.close()

    assert set(acknowledged) <= asyncio.run(stored_ids())


_SQLITE_DELETER = """
import asyncio, sys
from pathlib import Path
from roost.store.sqlite import SqliteQueueStore


async def main() -> None:
    store = await SqliteQueueStore.open(Path(sys.argv[1]))
    await store.send_batch("async-0", [str(k).encode() for k in range(int(sys.argv[2]))])
    print("sent", flush=True)
    while messages := await store.receive("async-0", max_messages=3):
        for message in messages:
            if await store.delete("async-0", message.receipt):
                print(message.message_id, flush=True)

asyncio.run(main())
"""


def test_deletes_committed_without_an_fsync_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "queues.db"
    deleted = acknowledged_before_sigkill(
        _SQLITE_DELETER, str(path), "5000", acks_before_kill=ACKS_BEFORE_KILL
    )[1:]

    # Every message still stored, visible or not (a few were received, not deleted).
    with contextlib.closing(sqlite3.connect(path)) as connection:
        remaining = {row[0] for row in connection.execute("SELECT message_id FROM queue_messages")}

    # A process crash keeps what the OS was handed: no deleted message is back.
    assert not set(deleted) & remaining
    # The kill may land between one delete's commit and its line, never more.
    assert 5000 - 1 <= len(remaining) + len(deleted) <= 5000


def test_a_receipt_that_is_not_ours_fails_nothing_committed_with_it(tmp_path: Path) -> None:
    # A sequence past SQLite's integer range raised inside the shared transaction:
    # the send committed with it failed too.
    async def main() -> tuple[list[str], bool, bool]:
        store = SqliteQueueStore(tmp_path / "queues.sqlite3")
        try:
            sent, huge, odd = await asyncio.gather(
                store.send_batch("q", [b"{}"]),
                store.delete("q", f"{2**70}.abcd"),
                store.change_visibility("q", "\u00b2.abcd", 1.0),  # a digit, not an ASCII one
            )
            return sent, huge, odd
        finally:
            await store.close()

    sent, huge, odd = asyncio.run(main())
    assert len(sent) == 1
    assert (huge, odd) == (False, False)
