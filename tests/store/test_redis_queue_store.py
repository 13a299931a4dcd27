"""``RedisQueueStore`` beyond the contract: durability across a SIGKILL of Redis, two
nodes on one server, coalesced sends, and Redis being down."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from roost.store.errors import StoreUnavailable
from roost.store.ports import QueueDepth
from roost.store.redis.queue_wakeups import RECHECK_S
from roost.store.redis.queues import RedisQueueStore
from tests.fixtures.redis_server import RedisServer, redis_server_binary
from tests.fixtures.stores import FakeClock

Q = "async-0"


@pytest.fixture
def own_redis(tmp_path: Path, redis_server: RedisServer) -> Iterator[RedisServer]:
    """A redis-server of this test alone (free to kill), like the session one."""
    assert redis_server_binary() is not None  # the session fixture skipped otherwise
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@asynccontextmanager
async def opened(url: str, **options: object) -> AsyncIterator[RedisQueueStore]:
    store = await RedisQueueStore.open(url, **options)  # type: ignore[arg-type]
    try:
        yield store
    finally:
        await store.close()


# Durability


def test_acknowledged_sends_survive_a_sigkill_and_restart_of_redis(
    own_redis: RedisServer,
) -> None:
    async def send_all() -> list[str]:
        async with opened(own_redis.url) as store:
            singles = await asyncio.gather(*(store.send(Q, b"%d" % n) for n in range(300)))
            batch = await store.send_batch(Q, [b"b%d" % n for n in range(200)])
            delayed = await store.send(Q, b"delayed", delay_s=0.2)
            return [*singles, *batch, delayed]

    async def receive_all() -> list[str]:
        async with opened(own_redis.url) as store:
            await asyncio.sleep(0.2)  # the delayed one comes due
            return [m.message_id for m in await store.receive(Q, max_messages=10_000)]

    # Given 501 sends acknowledged by a Redis with appendfsync always
    acknowledged = asyncio.run(send_all())

    # When Redis is killed without a chance to save and started again on its data
    assert own_redis.process is not None
    own_redis.process.kill()
    own_redis.process.wait()
    own_redis.start()

    # Then every acknowledged message is there, once
    received = asyncio.run(receive_all())
    assert sorted(received) == sorted(acknowledged)
    assert len(received) == 501


def test_redis_down_is_store_unavailable_and_the_store_recovers(own_redis: RedisServer) -> None:
    async def main() -> None:
        async with opened(own_redis.url, timeout_s=1.0) as store:
            await store.send(Q, b"before")
            assert own_redis.process is not None
            own_redis.process.kill()
            own_redis.process.wait()

            with pytest.raises(StoreUnavailable):
                await store.send(Q, b"lost")
            with pytest.raises(StoreUnavailable):
                await store.send_batch(Q, [b"a", b"b"])
            with pytest.raises(StoreUnavailable):
                await store.receive(Q, wait_s=0.1)
            with pytest.raises(StoreUnavailable):
                await store.depth(Q)
            with pytest.raises(StoreUnavailable):
                await store.queues()

            own_redis.start()
            assert await store.depth(Q) == QueueDepth(visible=1, in_flight=0, delayed=0)
            (message,) = await store.receive(Q, max_messages=10)
            assert message.body == b"before"

    asyncio.run(main())


def test_opening_an_unreachable_redis_is_store_unavailable(own_redis: RedisServer) -> None:
    own_redis.stop()

    with pytest.raises(StoreUnavailable):
        asyncio.run(RedisQueueStore.open(own_redis.url, timeout_s=1.0))


def test_a_redis_without_fsync_on_every_write_is_reported(
    redis_url: str, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with opened(redis_url) as store:
            client = store._connection.client
            await client.config_set("appendfsync", "everysec")
            try:
                with caplog.at_level(logging.WARNING):
                    async with opened(redis_url):
                        pass
            finally:
                await client.config_set("appendfsync", "always")

    asyncio.run(main())

    assert "appendfsync=everysec" in caplog.text


# Two nodes on one server


def test_two_nodes_share_queues_messages_and_receipts(redis_url: str) -> None:
    async def main() -> None:
        async with opened(redis_url) as node_a, opened(redis_url) as node_b:
            ids = await node_a.send_batch(Q, [b"1", b"2"])
            await node_b.send("other", b"3")

            assert await node_a.queues() == await node_b.queues() == [Q, "other"]
            (first,) = await node_b.receive(Q)
            assert first.message_id == ids[0]
            assert await node_a.depth(Q) == QueueDepth(visible=1, in_flight=1, delayed=0)

            # A receipt handed out by one node works on the other.
            assert await node_a.delete(Q, first.receipt) is True
            assert [m.message_id for m in await node_a.receive(Q)] == ids[1:]

    asyncio.run(main())


def test_a_long_poll_on_one_node_wakes_on_a_send_from_another(redis_url: str) -> None:
    async def main() -> None:
        # A fake clock stands still: the poll cannot find the message by
        # re-checking after RECHECK_S, only by the other node's notice.
        clock = FakeClock()
        async with opened(redis_url, clock=clock) as node_a, opened(redis_url, clock=clock) as b:
            poll = asyncio.create_task(node_a.receive(Q, max_messages=10, wait_s=30))
            await asyncio.sleep(0.1)
            assert not poll.done()

            started = time.monotonic()
            message_id = await b.send(Q, b"from b")
            received = await asyncio.wait_for(poll, timeout=10)

            assert [m.message_id for m in received] == [message_id]
            assert time.monotonic() - started < RECHECK_S / 2

    asyncio.run(main())


def test_a_lost_notice_delays_a_long_poll_by_at_most_the_recheck_interval(
    redis_url: str,
) -> None:
    async def main() -> None:
        async with opened(redis_url) as node_a, opened(redis_url) as node_b:
            # Given node A's listener drops every notice (as on a reconnect)
            node_a._wakeups._deliver = lambda message: None  # type: ignore[method-assign]
            poll = asyncio.create_task(node_a.receive(Q, wait_s=30))
            await asyncio.sleep(0.1)

            # When node B sends, Then node A's poll still gets it by its re-check
            started = time.monotonic()
            await node_b.send(Q, b"unheralded")
            (message,) = await asyncio.wait_for(poll, timeout=10)

            assert message.body == b"unheralded"
            assert time.monotonic() - started < RECHECK_S + 0.5

    asyncio.run(main())


def test_long_polls_are_woken_again_after_redis_restarts(own_redis: RedisServer) -> None:
    async def main() -> None:
        clock = FakeClock()  # no re-check by time: only notices wake the poll
        async with opened(own_redis.url, clock=clock) as node_a:
            await node_a.receive(Q, wait_s=0.01)  # subscribed
            assert own_redis.process is not None
            own_redis.process.kill()
            own_redis.process.wait()
            await asyncio.sleep(0.3)  # the subscription is gone
            own_redis.start()

            async with opened(own_redis.url, clock=clock) as node_b:
                poll = asyncio.create_task(node_a.receive(Q, wait_s=30))
                await asyncio.sleep(1.0)  # node A subscribes again
                message_id = await node_b.send(Q, b"after the restart")

                (message,) = await asyncio.wait_for(poll, timeout=10)
                assert message.message_id == message_id

    asyncio.run(main())


def test_namespaces_keep_deployments_apart(redis_url: str) -> None:
    async def main() -> None:
        async with opened(redis_url, namespace="a") as a, opened(redis_url, namespace="b") as b:
            await a.send(Q, b"for a")

            assert await b.queues() == []
            assert await b.receive(Q) == []
            assert [m.body for m in await a.receive(Q)] == [b"for a"]

    asyncio.run(main())


# Coalesced sends


def test_sends_arriving_together_share_one_script_call(redis_url: str) -> None:
    async def main() -> None:
        async with opened(redis_url) as store:
            ids = await asyncio.gather(
                *(store.send(f"q-{n % 3}", b"%d" % n) for n in range(200)),
                store.send_batch(Q, [b"x", b"y"]),
            )

            assert store.stats.calls == 1
            assert store.stats.messages == 202
            for n in range(3):
                received = await store.receive(f"q-{n}", max_messages=500)
                assert [m.message_id for m in received] == ids[n:200:3]

    asyncio.run(main())


def test_sends_arriving_during_a_call_go_into_the_next_one(redis_url: str) -> None:
    async def main() -> None:
        async with opened(redis_url, max_batch_messages=8) as store:

            async def sender() -> None:
                for _ in range(20):
                    await store.send(Q, b"m")

            await asyncio.gather(*(sender() for _ in range(16)))

            assert store.stats.messages == 320
            assert store.stats.calls <= 320 / 4  # batches of about 8, never one by one
            assert store.stats.largest_call == 8
            assert (await store.depth(Q)).visible == 320

    asyncio.run(main())


def test_a_cancelled_send_still_lands(redis_url: str) -> None:
    async def main() -> None:
        async with opened(redis_url) as store:
            sending = asyncio.create_task(store.send(Q, b"m"))
            await asyncio.sleep(0)  # queued in the coalescer
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending

            await store.send(Q, b"after")  # queues behind it
            assert (await store.depth(Q)).visible == 2

    asyncio.run(main())


def test_close_finishes_the_sends_already_accepted(redis_url: str) -> None:
    async def main() -> None:
        store = await RedisQueueStore.open(redis_url)
        sends = [asyncio.create_task(store.send(Q, b"%d" % n)) for n in range(50)]
        await asyncio.sleep(0)
        await store.close()
        ids = await asyncio.gather(*sends)

        async with opened(redis_url) as reopened:
            received = await reopened.receive(Q, max_messages=100)
            assert sorted(m.message_id for m in received) == sorted(ids)

    asyncio.run(main())
