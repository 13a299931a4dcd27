"""The Redis store on a Sentinel deployment: URLs, a SIGKILLed primary, replica acks.

The failover tests run real processes (``tests/fixtures/redis_sentinel.py``):
a primary, a replica and three Sentinels. They kill the primary and check
that the same adapter objects fail fast while no primary answers, work again
once the replica is promoted, and still hold what was acknowledged before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import redis

from roost.store.errors import StoreUnavailable
from roost.store.long_poll import QueueSignals
from roost.store.ports import Put
from roost.store.redis.config import RedisConfigStore
from roost.store.redis.connection import RedisConnection
from roost.store.redis.queue_wakeups import WakeListener
from roost.store.redis.queues import RedisQueueStore
from roost.store.redis.replica_acks import ReplicaAcks, take_replica_acks
from roost.store.redis.sentinel import SentinelUrl, parse_sentinel_url
from tests.fixtures.redis_sentinel import SentinelDeployment

T = TypeVar("T")
NS = "ha"
Q = "async-0"
# No call may take longer than this, failover or not: the socket timeouts
# (5 s) bound it, and a refused connection fails at once.
CALL_LIMIT_S = 12.0
FAILOVER_LIMIT_S = 40.0


# URLs


def test_a_sentinel_url_names_the_sentinels_service_db_and_credentials() -> None:
    url = "redis+sentinel://app:s%40cret@10.0.0.1:26380,[::1],sentinel-3/my-primary/2"
    assert parse_sentinel_url(url + "?sentinel_password=other") == SentinelUrl(
        sentinels=(("10.0.0.1", 26380), ("::1", 26379), ("sentinel-3", 26379)),
        service="my-primary",
        db=2,
        username="app",
        password="s@cret",
        sentinel_password="other",
    )
    assert parse_sentinel_url("redis+sentinel://:pw@h/svc").password == "pw"
    assert parse_sentinel_url("redis+sentinel://h/svc").db == 0


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h1,h2",  # no service
        "redis+sentinel://h1/svc/not-a-db",
        "redis+sentinel://h1:port/svc",
        "redis+sentinel://h1,,h2/svc",
        "redis+sentinel://h1/svc?unknown=1",
    ],
)
def test_a_malformed_sentinel_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_sentinel_url(url)


def test_replica_options_are_taken_out_of_any_store_url() -> None:
    assert take_replica_acks("redis://h:6379/0") == ("redis://h:6379/0", None)
    assert take_replica_acks("unix:///run/redis.sock?db=1&wait_replicas=1") == (
        "unix:///run/redis.sock?db=1",
        ReplicaAcks(1),
    )
    assert take_replica_acks("redis://h/0?wait_replicas=2&wait_timeout_ms=250") == (
        "redis://h/0",
        ReplicaAcks(2, 250),
    )
    stripped, acks = take_replica_acks("redis+sentinel://h/s?sentinel_password=x&wait_replicas=1")
    assert stripped == "redis+sentinel://h/s?sentinel_password=x"
    assert acks == ReplicaAcks(1, 1000)
    for bad in ("wait_replicas=0", "wait_replicas=1&wait_timeout_ms=0", "wait_timeout_ms=5"):
        with pytest.raises(ValueError):
            take_replica_acks(f"redis://h/0?{bad}")


# Replica acknowledgements on a single server (no replica ever confirms)


def test_waiting_for_a_missing_replica_fails_writes_but_not_reads(redis_url: str) -> None:
    async def main() -> None:
        plain = await RedisConfigStore.open(redis_url, namespace=NS)
        waiting = await RedisConfigStore.open(
            f"{redis_url}?wait_replicas=1&wait_timeout_ms=100", namespace=NS
        )
        try:
            await plain.commit([Put("doc", {"n": 1})])
            with pytest.raises(StoreUnavailable, match="0 of 1 replica"):
                await waiting.commit([Put("doc", {"n": 2})])
            # Not safe yet is not undone: the primary has the write.
            stored = await waiting.get("doc")
            assert stored is not None and stored.value == {"n": 2}
        finally:
            await waiting.close()
            await plain.close()

    asyncio.run(main())


# Failover


async def until_available(call: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """Retry ``call`` until it succeeds: its result and how many StoreUnavailable came first.

    Every attempt must end (either way) within ``CALL_LIMIT_S``: a call made
    while no primary answers fails, it does not hang.
    """
    deadline = time.monotonic() + FAILOVER_LIMIT_S
    failures = 0
    while True:
        started = time.monotonic()
        try:
            return await asyncio.wait_for(call(), CALL_LIMIT_S), failures
        except StoreUnavailable:
            failures += 1
            assert time.monotonic() - started < CALL_LIMIT_S
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


async def refused(call: Callable[[], Awaitable[object]]) -> StoreUnavailable:
    """The ``StoreUnavailable`` that ``call`` raises once past a connection lost in the failover."""
    error: StoreUnavailable | None = None
    for _ in range(3):
        try:
            await asyncio.wait_for(call(), CALL_LIMIT_S)
        except StoreUnavailable as raised:
            error = raised
            if "replica" in str(raised):
                break
        else:
            raise AssertionError("the call succeeded")
    assert error is not None
    return error


async def heard(port: int, channel: str, signals: QueueSignals, queue: str) -> None:
    """Publish ``queue`` on ``channel`` at the server on ``port`` until ``signals`` wakes it."""
    deadline = time.monotonic() + FAILOVER_LIMIT_S
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as publisher:
        while signals.generation(queue) == 0:
            assert time.monotonic() < deadline, f"no wake-up for {queue} through {port}"
            publisher.publish(channel, queue)
            await asyncio.sleep(0.2)


def test_the_stores_fail_over_to_the_replica_without_reopening(
    sentinel_deployment: SentinelDeployment,
) -> None:
    deployment = sentinel_deployment
    url = deployment.url()

    async def main() -> None:
        config = await RedisConfigStore.open(url, namespace=NS)
        queues = await RedisQueueStore.open(url, namespace=NS)
        wake_connection = RedisConnection.from_url(url, namespace=NS)
        signals = QueueSignals()
        channel = wake_connection.key("queue-wake")
        listener = WakeListener(wake_connection.client, channel, signals)
        try:
            # Given documents, messages and a wake-up subscription, all
            # through the Sentinel URL, and a replica that has caught up
            await config.commit([Put(f"doc/{n:03}", {"n": n}) for n in range(50)])
            sent = await queues.send_batch(Q, [b"%d" % n for n in range(100)])
            await listener.ready(timeout_s=5.0)
            await heard(deployment.primary.port, channel, signals, "before")
            await asyncio.to_thread(deployment.wait_until_replicated)

            # When the primary is SIGKILLed
            deployment.kill_primary()

            # Then calls fail fast until the replica is promoted, then answer
            listed, failures = await until_available(lambda: config.list("doc/"))
            assert failures > 0
            await asyncio.to_thread(deployment.wait_for_failover)
            assert [item.value["n"] for item in listed] == list(range(50))
            received, _ = await until_available(lambda: queues.receive(Q, max_messages=10))
            while batch := await queues.receive(Q, max_messages=10, visibility_timeout_s=60):
                received += batch
            assert sorted(m.message_id for m in received) == sorted(sent)

            # And the same objects write to the new primary, wake-ups included
            await config.commit([Put("doc/after", {"n": -1})])
            assert (await config.get("doc/after")) is not None
            await queues.send(Q, b"after")
            await heard(deployment.replica.port, channel, signals, "after")
        finally:
            await listener.close()
            await wake_connection.close()
            await queues.close()
            await config.close()

    asyncio.run(main())


def test_writes_acknowledged_by_a_replica_survive_an_immediate_kill(
    sentinel_deployment: SentinelDeployment,
) -> None:
    deployment = sentinel_deployment
    url = deployment.url("wait_replicas=1&wait_timeout_ms=2000")

    async def main() -> None:
        config = await RedisConfigStore.open(url, namespace=NS)
        queues = await RedisQueueStore.open(url, namespace=NS)
        try:
            # Given writes that each returned once the replica confirmed them
            await asyncio.gather(
                *(config.commit([Put(f"doc/{n:03}", {"n": n})]) for n in range(100))
            )
            sent = await asyncio.gather(*(queues.send(Q, b"%d" % n) for n in range(200)))

            # When the primary is SIGKILLed right away (no wait for replication)
            deployment.kill_primary()

            # Then the promoted replica holds every one of them
            listed, _ = await until_available(lambda: config.list("doc/"))
            assert len(listed) == 100
            depth, _ = await until_available(lambda: queues.depth(Q))
            assert depth.visible == 200
            # while writes wait for a replica the new primary does not have yet
            refusal = await refused(lambda: config.commit([Put("doc/after", {"n": -1})]))
            assert "0 of 1 replica" in str(refusal)

            # And once the old primary is back as its replica, writes go through
            await asyncio.to_thread(deployment.restart_old_primary_as_replica)
            await until_available(lambda: config.commit([Put("doc/after", {"n": -1})]))
            received = await queues.receive(Q, max_messages=10, visibility_timeout_s=60)
            while batch := await queues.receive(Q, max_messages=10, visibility_timeout_s=60):
                received += batch
            assert sorted(m.message_id for m in received) == sorted(sent)
        finally:
            await queues.close()
            await config.close()

    asyncio.run(main())
