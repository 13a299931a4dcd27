"""The ``QueueStore`` contract, run against every adapter.

Each test is a scenario (an async function of a fresh store and its fake clock)
that the ``run_with_queue_store`` fixture runs under ``asyncio.run`` for each
adapter. SQLite-only behaviour (persistence, SIGKILL, group commit) is in
``test_sqlite_queue_store.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from roost.store.errors import StoreUnavailable
from roost.store.ports import QueueDepth, QueueStore, ReceivedMessage, ReceiveOrder
from tests.fixtures.stores import FakeClock, RunWithQueueStore

Q = "async-0"


async def receive_one(store: QueueStore, visibility_timeout_s: float = 30.0) -> ReceivedMessage:
    (message,) = await store.receive(Q, max_messages=1, visibility_timeout_s=visibility_timeout_s)
    return message


# Send and receive


def test_a_sent_message_is_received_with_its_id_body_and_times(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        sent_at_ms = round(clock() * 1000)
        message_id = await store.send(Q, b"\x00event \xff")
        clock.advance(2)

        message = await receive_one(store)

        assert message.message_id == message_id
        assert message.body == b"\x00event \xff"
        assert message.receive_count == 1
        assert message.sent_at_ms == sent_at_ms
        assert message.first_received_at_ms == sent_at_ms + 2000
        assert message.receipt

    run_with_queue_store(scenario)


def test_messages_come_out_in_send_order(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        ids = [await store.send(Q, f"m{n}".encode()) for n in range(5)]

        first = await store.receive(Q, max_messages=2)
        rest = await store.receive(Q, max_messages=10)

        assert [m.message_id for m in first + rest] == ids
        assert [m.body for m in first] == [b"m0", b"m1"]

    run_with_queue_store(scenario)


def test_send_batch_keeps_order_and_an_empty_batch_sends_nothing(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        assert await store.send_batch(Q, []) == []
        ids = await store.send_batch(Q, [b"a", b"b", b"c"])

        received = await store.receive(Q, max_messages=10)

        assert len(set(ids)) == 3
        assert [m.message_id for m in received] == ids
        assert [m.body for m in received] == [b"a", b"b", b"c"]

    run_with_queue_store(scenario)


def test_queues_are_separate(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send("q-a", b"a")
        await store.send("q-b", b"b")

        assert [m.body for m in await store.receive("q-b", max_messages=10)] == [b"b"]
        assert await store.receive("q-c", max_messages=10) == []
        assert await store.queues() == ["q-a", "q-b"]

    run_with_queue_store(scenario)


def test_a_received_message_is_hidden_from_the_next_receive(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"once")
        await receive_one(store, visibility_timeout_s=30)
        clock.advance(29.9)

        assert await store.receive(Q, max_messages=10) == []

    run_with_queue_store(scenario)


# Delay and visibility


def test_a_delayed_message_shows_only_after_its_delay(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"later", delay_s=60)
        await store.send(Q, b"now")

        now = await store.receive(Q, max_messages=10, visibility_timeout_s=600)
        assert [m.body for m in now] == [b"now"]
        clock.advance(59)
        assert await store.receive(Q, max_messages=10) == []
        clock.advance(1)
        assert [m.body for m in await store.receive(Q, max_messages=10)] == [b"later"]

    run_with_queue_store(scenario)


def test_an_expired_visibility_timeout_brings_the_message_back_with_a_new_receipt(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"retry me")
        first = await receive_one(store, visibility_timeout_s=10)
        clock.advance(10)

        second = await receive_one(store, visibility_timeout_s=10)

        assert second.message_id == first.message_id
        assert second.body == b"retry me"
        assert second.receive_count == 2
        assert second.receipt != first.receipt
        assert second.sent_at_ms == first.sent_at_ms
        assert second.first_received_at_ms == first.first_received_at_ms

    run_with_queue_store(scenario)


def test_a_returning_message_queues_behind_messages_visible_before_it(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"first")
        await receive_one(store, visibility_timeout_s=10)
        clock.advance(5)
        await store.send(Q, b"second")
        clock.advance(5)

        received = await store.receive(Q, max_messages=10)

        assert [m.body for m in received] == [b"second", b"first"]

    run_with_queue_store(scenario)


def test_a_stale_receipt_is_refused(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"m")
        stale = await receive_one(store, visibility_timeout_s=1)
        clock.advance(1)
        current = await receive_one(store, visibility_timeout_s=30)

        assert await store.delete(Q, stale.receipt) is False
        assert await store.change_visibility(Q, stale.receipt, 0) is False
        assert await store.receive(Q, max_messages=10) == []  # still hidden
        assert await store.delete(Q, current.receipt) is True

    run_with_queue_store(scenario)


@pytest.mark.parametrize("receipt", ["", "nonsense", "1", "1.", ".abc", "999.abcdef", "-1.ab"])
def test_unknown_receipts_are_refused(
    run_with_queue_store: RunWithQueueStore, receipt: str
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"m")
        await receive_one(store)

        assert await store.delete(Q, receipt) is False
        assert await store.change_visibility(Q, receipt, 0) is False
        assert (await store.depth(Q)).in_flight == 1

    run_with_queue_store(scenario)


def test_a_receipt_works_only_on_its_own_queue(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"m")
        message = await receive_one(store)

        assert await store.delete("other", message.receipt) is False
        assert await store.delete(Q, message.receipt) is True

    run_with_queue_store(scenario)


def test_change_visibility_to_zero_makes_the_message_visible_at_once(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"m")
        first = await receive_one(store, visibility_timeout_s=300)

        assert await store.change_visibility(Q, first.receipt, 0) is True
        second = await receive_one(store)

        assert second.receive_count == 2

    run_with_queue_store(scenario)


def test_change_visibility_counts_from_now(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"m")
        message = await receive_one(store, visibility_timeout_s=10)
        clock.advance(8)

        assert await store.change_visibility(Q, message.receipt, 60) is True
        clock.advance(59)
        assert await store.receive(Q, max_messages=10) == []
        clock.advance(1)
        assert len(await store.receive(Q, max_messages=10)) == 1

    run_with_queue_store(scenario)


def test_delete_removes_the_message_once(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"m")
        message = await receive_one(store, visibility_timeout_s=1)

        assert await store.delete(Q, message.receipt) is True
        assert await store.delete(Q, message.receipt) is False
        clock.advance(5)
        assert await store.receive(Q, max_messages=10) == []
        assert await store.depth(Q) == QueueDepth(0, 0, 0)
        assert await store.queues() == []

    run_with_queue_store(scenario)


# Newest first (backlog recovery)


def test_newest_first_hands_out_the_latest_sent_messages_first(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        ids = [await store.send(Q, f"m{n}".encode()) for n in range(5)]

        first = await store.receive(Q, max_messages=2, order=ReceiveOrder.NEWEST_FIRST)
        rest = await store.receive(Q, max_messages=10, order=ReceiveOrder.NEWEST_FIRST)

        assert [m.message_id for m in first + rest] == ids[::-1]
        assert [m.body for m in first] == [b"m4", b"m3"]

    run_with_queue_store(scenario)


def test_the_default_order_is_still_oldest_first(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        ids = await store.send_batch(Q, [b"a", b"b", b"c"])

        default = await store.receive(Q, max_messages=1)
        oldest = await store.receive(Q, max_messages=1, order=ReceiveOrder.OLDEST_FIRST)

        assert [default[0].message_id, oldest[0].message_id] == ids[:2]

    run_with_queue_store(scenario)


def test_newest_and_oldest_receives_split_a_backlog_from_both_ends(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        ids = await store.send_batch(Q, [f"m{n}".encode() for n in range(6)])

        fresh = await store.receive(Q, max_messages=2, order=ReceiveOrder.NEWEST_FIRST)
        old = await store.receive(Q, max_messages=2)
        middle = await store.receive(Q, max_messages=10, order=ReceiveOrder.NEWEST_FIRST)

        assert [m.message_id for m in fresh] == [ids[5], ids[4]]
        assert [m.message_id for m in old] == [ids[0], ids[1]]
        assert [m.message_id for m in middle] == [ids[3], ids[2]]

    run_with_queue_store(scenario)


def test_newest_first_steps_over_hidden_and_delayed_messages(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        old = await store.send(Q, b"old")
        visible = await store.send(Q, b"visible")
        await store.send(Q, b"delayed", delay_s=60)
        (in_flight,) = [await store.send(Q, b"in flight")]
        (taken,) = await store.receive(Q, order=ReceiveOrder.NEWEST_FIRST)
        assert taken.message_id == in_flight

        received = await store.receive(Q, max_messages=10, order=ReceiveOrder.NEWEST_FIRST)

        assert [m.message_id for m in received] == [visible, old]

    run_with_queue_store(scenario)


def test_newest_first_keeps_a_redelivered_message_in_its_send_place(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        first = await store.send(Q, b"first")
        (redelivered,) = await store.receive(Q, visibility_timeout_s=5)
        clock.advance(1)
        second = await store.send(Q, b"second")
        clock.advance(10)  # The first one is visible again, later than the second.

        received = await store.receive(Q, max_messages=10, order=ReceiveOrder.NEWEST_FIRST)

        assert redelivered.message_id == first
        assert [m.message_id for m in received] == [second, first]
        assert [m.receive_count for m in received] == [1, 2]

    run_with_queue_store(scenario)


def test_a_newest_first_long_poll_gets_a_message_sent_while_it_waits(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        poll = asyncio.create_task(
            store.receive(Q, max_messages=5, wait_s=5, order=ReceiveOrder.NEWEST_FIRST)
        )
        await asyncio.sleep(0.05)
        message_id = await store.send(Q, b"late")

        received = await asyncio.wait_for(poll, 2)

        assert [m.message_id for m in received] == [message_id]

    run_with_queue_store(scenario)


# Depth and age


def test_depth_counts_visible_in_flight_and_delayed(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send_batch(Q, [b"1", b"2", b"3"])
        await store.send(Q, b"delayed", delay_s=30)
        await store.receive(Q, max_messages=1, visibility_timeout_s=10)

        depth = await store.depth(Q)

        assert depth == QueueDepth(visible=2, in_flight=1, delayed=1)
        assert depth.total == 4
        clock.advance(30)
        assert await store.depth(Q) == QueueDepth(visible=4, in_flight=0, delayed=0)
        assert await store.depth("empty") == QueueDepth(0, 0, 0)

    run_with_queue_store(scenario)


def test_oldest_age_follows_the_oldest_undeleted_message(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        assert await store.oldest_age_s(Q) is None
        await store.send(Q, b"old")
        clock.advance(10)
        await store.send(Q, b"new", delay_s=100)
        clock.advance(2.5)

        assert await store.oldest_age_s(Q) == pytest.approx(12.5)
        old = await receive_one(store)  # in flight still counts
        assert await store.oldest_age_s(Q) == pytest.approx(12.5)
        await store.delete(Q, old.receipt)
        assert await store.oldest_age_s(Q) == pytest.approx(2.5)

    run_with_queue_store(scenario)


# Long polls


def test_a_long_poll_is_woken_by_a_send(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        poll = asyncio.create_task(store.receive(Q, max_messages=10, wait_s=60))
        await asyncio.sleep(0.05)  # let the poll find the queue empty and park
        assert not poll.done()

        message_id = await store.send(Q, b"wake up")

        # Far below wait_s: the send woke the poll, its wait did not run out.
        received = await asyncio.wait_for(poll, timeout=10)
        assert [m.message_id for m in received] == [message_id]

    run_with_queue_store(scenario)


def test_a_long_poll_is_woken_by_change_visibility_to_zero(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"m")
        held = await receive_one(store, visibility_timeout_s=300)
        poll = asyncio.create_task(store.receive(Q, wait_s=60))
        await asyncio.sleep(0.05)

        await store.change_visibility(Q, held.receipt, 0)

        (message,) = await asyncio.wait_for(poll, timeout=10)
        assert message.receive_count == 2

    run_with_queue_store(scenario)


def test_a_long_poll_picks_up_a_delayed_message_when_it_comes_due(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"soon", delay_s=0.2)
        poll = asyncio.create_task(store.receive(Q, wait_s=60))
        await asyncio.sleep(0.05)
        assert not poll.done()

        # No send wakes it: the poll sleeps until the message is due, then asks again.
        clock.advance(0.2)

        (message,) = await asyncio.wait_for(poll, timeout=10)
        assert message.body == b"soon"

    run_with_queue_store(scenario)


def test_a_long_poll_times_out_empty(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send("other", b"not for this queue")

        assert await store.receive(Q, max_messages=10, wait_s=0.2) == []

    run_with_queue_store(scenario)


def test_concurrent_long_polls_share_messages_without_duplicates(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        polls = [asyncio.create_task(store.receive(Q, wait_s=60)) for _ in range(4)]
        await asyncio.sleep(0.05)

        ids = await store.send_batch(Q, [b"1", b"2", b"3", b"4"])

        received = await asyncio.wait_for(asyncio.gather(*polls), timeout=10)
        assert sorted(m.message_id for got in received for m in got) == sorted(ids)

    run_with_queue_store(scenario)


def test_close_ends_a_pending_long_poll(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        poll = asyncio.create_task(store.receive(Q, wait_s=60))
        await asyncio.sleep(0.05)

        await store.close()

        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(poll, timeout=10)

    run_with_queue_store(scenario)


# Concurrency


def test_concurrent_senders_are_all_durable_and_received_once(
    run_with_queue_store: RunWithQueueStore,
) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        async def sender(n: int) -> list[str]:
            return [await store.send(Q, f"{n}/{k}".encode()) for k in range(20)]

        sent = await asyncio.gather(*(sender(n) for n in range(25)))
        received = await store.receive(Q, max_messages=1000)

        assert sorted(m.message_id for m in received) == sorted(i for ids in sent for i in ids)
        assert (await store.depth(Q)).in_flight == 500

    run_with_queue_store(scenario)


# Arguments and lifecycle


def test_invalid_arguments_are_refused(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        with pytest.raises(ValueError, match="delay_s"):
            await store.send(Q, b"m", delay_s=-1)
        with pytest.raises(ValueError, match="max_messages"):
            await store.receive(Q, max_messages=0)
        with pytest.raises(ValueError, match="visibility_timeout_s"):
            await store.receive(Q, visibility_timeout_s=-1)
        with pytest.raises(ValueError, match="wait_s"):
            await store.receive(Q, wait_s=-1)
        with pytest.raises(ValueError, match="timeout_s"):
            await store.change_visibility(Q, "1.ab", -1)
        assert await store.queues() == []

    run_with_queue_store(scenario)


def test_a_closed_store_raises_store_unavailable(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        await store.send(Q, b"m")

        await store.close()

        with pytest.raises(StoreUnavailable):
            await store.send(Q, b"m")
        with pytest.raises(StoreUnavailable):
            await store.receive(Q)
        with pytest.raises(StoreUnavailable):
            await store.depth(Q)
        with pytest.raises(StoreUnavailable):
            await store.queues()
        await store.close()  # Idempotent.

    run_with_queue_store(scenario)


def test_adapters_satisfy_the_protocol(run_with_queue_store: RunWithQueueStore) -> None:
    async def scenario(store: QueueStore, clock: FakeClock) -> None:
        assert isinstance(store, QueueStore)

    run_with_queue_store(scenario)
