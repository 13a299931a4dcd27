"""The Redis adapters beyond the contract suites: persistence, namespaces, outages.

The contract suites hold the config, code, mapping and checkpoint adapters to
the same behaviour as SQLite; these tests cover what only a network store has:
a server killed and restarted (AOF with ``appendfsync always``), two clusters
sharing one server, and a server that goes away and comes back.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from roost.leasing import LeaseTable
from roost.store.errors import DuplicateMapping, StoreUnavailable
from roost.store.ports import DeletePrefix, MappingRecord, Put
from roost.store.redis import RedisConfigStore, RedisStateStores, open_redis_stores
from tests.fixtures.redis_server import RedisServer, redis_server_binary
from tests.fixtures.stores import FakeClock

T = TypeVar("T")

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:f"
STREAM = "arn:aws:kinesis:us-east-1:000000000000:stream/s"
SEQUENCE = "49590338271490256608559692538361571095921575989136588898"


def mapping(uuid: str) -> MappingRecord:
    """A mapping of STREAM to FUNCTION in the default account."""
    return MappingRecord(uuid, "000000000000", FUNCTION, STREAM, {"UUID": uuid})


@pytest.fixture
def own_redis(tmp_path: Path, redis_server: RedisServer) -> Iterator[RedisServer]:
    """A redis-server of this test alone, free to be killed and restarted.

    Asking for the session ``redis_server`` makes this skip where redis-server
    is not installed, exactly as the contract suites do.
    """
    assert redis_server_binary() is not None
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def sigkill_and_restart(server: RedisServer) -> None:
    """Kill the server with no chance to flush anything, then start it on the same dir and port."""
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    server.start()


async def eventually(operation: Callable[[], Awaitable[T]], timeout_s: float = 30.0) -> T:
    """The first result of ``operation`` that is not ``StoreUnavailable``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await operation()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def write_one_of_each(stores: RedisStateStores) -> dict[str, str]:
    """A document, a blob, a mapping and an advanced checkpoint; their revisions and digest."""
    committed = await stores.config.commit([Put("fn/a", {"Runtime": "python3.12"})])
    blob = await stores.code.put(b"PK\x05\x06" + bytes(18))
    mapping_revision = await stores.mappings.put(mapping("m-1"))
    claimed = await stores.checkpoints.claim("m-1", "shardId-0", "poller-a")
    advanced = await stores.checkpoints.advance(
        "m-1", "shardId-0", SEQUENCE, expected_revision=claimed.revision
    )
    return {
        "config": committed.revisions["fn/a"],
        "blob": blob.sha256_hex,
        "mapping": mapping_revision,
        "checkpoint": advanced,
    }


def test_acknowledged_writes_survive_a_sigkill_of_the_server(own_redis: RedisServer) -> None:
    async def write() -> dict[str, str]:
        stores = await open_redis_stores(own_redis.url, namespace="cluster")
        try:
            return await write_one_of_each(stores)
        finally:
            await stores.close()

    async def read_back(written: dict[str, str]) -> None:
        stores = await eventually(lambda: open_redis_stores(own_redis.url, namespace="cluster"))
        try:
            item = await eventually(lambda: stores.config.get("fn/a"))
            assert item is not None and item.revision == written["config"]
            assert [i.key for i in await stores.config.list("fn/")] == ["fn/a"]
            assert await stores.code.get(written["blob"]) == b"PK\x05\x06" + bytes(18)
            stored = await stores.mappings.get("m-1")
            assert stored is not None and stored.revision == written["mapping"]
            # The uniqueness index came back with the records.
            with pytest.raises(DuplicateMapping):
                await stores.mappings.put(mapping("m-2"))
            checkpoint = await stores.checkpoints.get("m-1", "shardId-0")
            assert checkpoint is not None
            assert (checkpoint.position, checkpoint.revision) == (SEQUENCE, written["checkpoint"])
        finally:
            await stores.close()

    written = asyncio.run(write())
    sigkill_and_restart(own_redis)
    asyncio.run(read_back(written))


def test_namespaces_on_one_server_do_not_see_each_other(redis_url: str) -> None:
    async def main() -> None:
        blue = await open_redis_stores(redis_url, namespace="blue")
        green = await open_redis_stores(redis_url, namespace="green")
        try:
            await write_one_of_each(blue)
            await green.config.commit([Put("fn/b", {})])

            assert [i.key for i in await green.config.list("")] == ["fn/b"]
            assert await green.code.list() == []
            assert await green.mappings.list() == []
            assert await green.checkpoints.list("m-1") == []
            # The same source and function is no duplicate across namespaces.
            await green.mappings.put(mapping("m-2"))

            await green.config.commit([DeletePrefix("")])
            assert await green.checkpoints.delete_mapping("m-1") == 0

            assert [i.key for i in await blue.config.list("")] == ["fn/a"]
            assert [m.uuid for m in await blue.mappings.list()] == ["m-1"]
            assert len(await blue.checkpoints.list("m-1")) == 1
        finally:
            await blue.close()
            await green.close()

    asyncio.run(main())


def test_a_server_down_is_store_unavailable_until_it_is_back(own_redis: RedisServer) -> None:
    async def main() -> None:
        stores = await open_redis_stores(own_redis.url)
        try:
            await stores.config.commit([Put("fn/a", {"v": 1})])
            assert own_redis.process is not None
            own_redis.process.kill()
            own_redis.process.wait()

            with pytest.raises(StoreUnavailable):
                await stores.config.get("fn/a")
            with pytest.raises(StoreUnavailable):
                await stores.config.commit([Put("fn/b", {})])
            with pytest.raises(StoreUnavailable):
                await stores.checkpoints.claim("m-1", "shardId-0", "p")

            # The same adapters recover once the server is back: no reopening.
            await asyncio.to_thread(own_redis.start)
            item = await eventually(lambda: stores.config.get("fn/a"))
            assert item is not None and item.value == {"v": 1}
            await stores.config.commit([Put("fn/b", {})])
            assert [i.key for i in await stores.config.list("fn/")] == ["fn/a", "fn/b"]
        finally:
            await stores.close()

    asyncio.run(main())


def test_opening_without_a_server_is_store_unavailable(own_redis: RedisServer) -> None:
    own_redis.stop()

    with pytest.raises(StoreUnavailable):
        asyncio.run(open_redis_stores(own_redis.url))


def test_two_nodes_race_for_one_lease_and_one_wins(redis_url: str) -> None:
    async def main() -> None:
        nodes = [await RedisConfigStore.open(redis_url) for _ in range(3)]
        try:
            clock = FakeClock()
            tables = [LeaseTable(node, "lease/test/", clock=clock) for node in nodes]

            results = await asyncio.gather(
                *(tables[n % 3].acquire("queue-1", f"owner-{n}", 10.0) for n in range(9))
            )

            winners = [lease for lease in results if lease is not None]
            assert len(winners) == 1
            assert await tables[0].get("queue-1") == winners[0]
        finally:
            for node in nodes:
                await node.close()

    asyncio.run(main())


def test_a_cancelled_commit_still_lands(redis_url: str) -> None:
    async def main() -> None:
        store = await RedisConfigStore.open(redis_url)
        try:
            commit = asyncio.create_task(store.commit([Put("fn/a", {"v": 1})]))
            await asyncio.sleep(0)  # the commit is on its way to the server
            commit.cancel()
            with pytest.raises(asyncio.CancelledError):
                await commit

            for _ in range(100):
                if await store.get("fn/a") is not None:
                    break
                await asyncio.sleep(0.02)
            assert await store.get("fn/a") is not None
        finally:
            await store.close()

    asyncio.run(main())


def test_a_package_at_lambdas_zipped_limit_roundtrips(redis_url: str) -> None:
    # 50 MB, Lambda's limit for a zip uploaded directly: one Redis string.
    data = bytes(range(256)) * (50 * 1024 * 1024 // 256)

    async def main() -> None:
        stores = await open_redis_stores(redis_url)
        try:
            ref = await stores.code.put(data)
            assert ref.sha256_hex == hashlib.sha256(data).hexdigest()
            assert await stores.code.get(ref.sha256_hex) == data
            assert [b.size_bytes for b in await stores.code.list()] == [len(data)]
            await stores.code.delete(ref.sha256_hex)
        finally:
            await stores.close()

    asyncio.run(main())


def test_filtered_mapping_listings_page_across_many_reads(redis_url: str) -> None:
    # More records than one read of the adapter takes (256), every third a match.
    async def main() -> None:
        stores = await open_redis_stores(redis_url)
        try:
            for n in range(600):
                function = FUNCTION if n % 3 == 0 else f"{FUNCTION}-{n}"
                await stores.mappings.put(
                    MappingRecord(f"m-{n:04d}", "000000000000", function, f"{STREAM}-{n}", {})
                )
            expected = [f"m-{n:04d}" for n in range(0, 600, 3)]

            everything = await stores.mappings.list(function_arn=FUNCTION)
            first = await stores.mappings.list(function_arn=FUNCTION, limit=150)
            rest = await stores.mappings.list(function_arn=FUNCTION, start_after=first[-1].uuid)

            assert [m.uuid for m in everything] == expected
            assert [m.uuid for m in first + rest] == expected
            assert len(await stores.mappings.list()) == 600
        finally:
            await stores.close()

    asyncio.run(main())


def test_a_claim_rewrites_a_checkpoint_without_changing_its_text(redis_url: str) -> None:
    # The claim script decodes and re-encodes the JSON on the server (cjson).
    position = 'a/b "quoted" \\ é \U0001f600 ' + SEQUENCE

    async def main() -> None:
        stores = await open_redis_stores(redis_url)
        try:
            claimed = await stores.checkpoints.claim("m-1", "shard/é", "poller-é")
            await stores.checkpoints.advance(
                "m-1", "shard/é", position, expected_revision=claimed.revision
            )

            again = await stores.checkpoints.claim("m-1", "shard/é", "poller-ü")

            assert (again.position, again.owner, again.shard_id) == (
                position,
                "poller-ü",
                "shard/é",
            )
            assert await stores.checkpoints.get("m-1", "shard/é") == again
        finally:
            await stores.close()

    asyncio.run(main())
